#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm install`, or `npm run build`).
import { main } from "../dist/src/cli.js";

const code = await main(process.argv.slice(2));
if (code !== undefined) process.exitCode = code;
