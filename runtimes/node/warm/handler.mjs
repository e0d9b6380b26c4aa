// Loaded by a warm-pool process while it waits (see warm/handler.cjs).
export default async () => 'warm';
