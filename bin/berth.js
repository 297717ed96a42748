#!/usr/bin/env node
// The `berth` command: runs the compiled CLI (npm install builds it into dist/).
import '../dist/cli/main.js';
