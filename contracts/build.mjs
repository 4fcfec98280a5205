#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// Reproducible build of LineageRegistry.sol with the pinned solc-js (no native compiler,
// nothing downloaded at run time).
//
//   node build.mjs            compile and write ../aichain_audit/ledger/artifacts/LineageRegistry.json
//   node build.mjs --check    compile in memory; exit 1 if the committed artifact differs
//
// The artifact is byte-for-byte deterministic: fixed relative source name, fixed settings,
// no metadata hash in the bytecode, object keys sorted recursively, 2-space indent, final newline.

import { createHash } from "node:crypto";
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

const HERE = dirname(fileURLToPath(import.meta.url));
const SOURCE_NAME = "LineageRegistry.sol";
const CONTRACT_NAME = "LineageRegistry";
const SOURCE_PATH = join(HERE, SOURCE_NAME);
const ARTIFACT_PATH = join(HERE, "..", "aichain_audit", "ledger", "artifacts", `${CONTRACT_NAME}.json`);

// The compiler must be exactly the one pinned in package.json and in the pragma.
const PINNED_SOLC = JSON.parse(readFileSync(join(HERE, "package.json"), "utf8")).devDependencies.solc;

// Exact standard-JSON settings; recorded verbatim (keys sorted) in the artifact.
const SETTINGS = {
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 10000 },
  metadata: { bytecodeHash: "none" },
  outputSelection: {
    [SOURCE_NAME]: {
      [CONTRACT_NAME]: ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"],
    },
  },
};

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

function fail(message) {
  process.stderr.write(`build: ${message}\n`);
  process.exit(2);
}

function build() {
  const solcVersion = solc.version();
  if (!solcVersion.startsWith(`${PINNED_SOLC}+`)) {
    fail(`loaded solc ${solcVersion}, but package.json pins ${PINNED_SOLC}: run 'npm ci'`);
  }
  const source = readFileSync(SOURCE_PATH);
  const input = {
    language: "Solidity",
    sources: { [SOURCE_NAME]: { content: source.toString("utf8") } },
    settings: SETTINGS,
  };
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import: (path) => ({ error: `imports are not allowed (${path})` }),
    }),
  );
  const diagnostics = output.errors ?? [];
  for (const d of diagnostics) process.stderr.write(`${d.formattedMessage ?? d.message}\n`);
  if (diagnostics.some((d) => d.severity === "error")) fail("compilation failed");
  if (diagnostics.length > 0) fail("compiler warnings are treated as errors");

  const contract = output.contracts?.[SOURCE_NAME]?.[CONTRACT_NAME];
  if (!contract) fail(`no ${CONTRACT_NAME} in compiler output`);

  const artifact = sortKeys({
    contractName: CONTRACT_NAME,
    sourceName: SOURCE_NAME,
    solcVersion,
    settings: SETTINGS,
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    sourceSha256: createHash("sha256").update(source).digest("hex"),
  });
  return `${JSON.stringify(artifact, null, 2)}\n`;
}

const args = process.argv.slice(2);
const check = args.includes("--check");
if (args.some((a) => a !== "--check")) fail(`usage: node build.mjs [--check]`);

const text = build();
const shown = relative(process.cwd(), ARTIFACT_PATH);
if (check) {
  let committed;
  try {
    committed = readFileSync(ARTIFACT_PATH, "utf8");
  } catch {
    process.stderr.write(`check: ${shown} is missing; run 'npm run build'\n`);
    process.exit(1);
  }
  if (committed !== text) {
    process.stderr.write(`check: ${shown} differs from a fresh build; run 'npm run build'\n`);
    process.exit(1);
  }
  process.stdout.write(`check: ${shown} is up to date\n`);
} else {
  const tmp = `${ARTIFACT_PATH}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, ARTIFACT_PATH);
  process.stdout.write(`wrote ${shown}\n`);
}
