/**
 * {{name}}: a Kube-Serverless function.
 *
 * The platform calls the default export with a web-standard Request for every
 * request to /function/{{name}}[/path]. Return a Response, a string, or an object
 * (sent as JSON). Anything you log goes to the gateway's log.
 *
 * @param {Request} req
 */
export default async (req) => {
  const body = await req.text();
  return `Hello, ${body || 'world'}!\n`;
};
