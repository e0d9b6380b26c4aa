#!/bin/sh
# {{name}}: a Kube-Serverless function on the exec runtime (OpenFaaS classic watchdog).
#
# Every request runs this script: the request body is on stdin, the reply is what it
# prints to stdout (200). Exiting non-zero answers 500; stderr goes to the gateway's
# log. The request is in the environment: Http_Method, Http_Path, Http_Query, and one
# Http_<Header> per header (X-Api-Key → Http_X_Api_Key).
body=$(cat)
printf 'Hello, %s!\n' "${body:-world}"
