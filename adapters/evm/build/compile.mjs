#!/usr/bin/env node
// Compile every .sol under adapters/evm/contracts with the pinned solcjs (npm `solc`) and write
// adapters/evm/artifacts/<Name>.json deterministically (sorted keys, 2-space indent, trailing newline).
//
//   node adapters/evm/build/compile.mjs           write the artifacts
//   node adapters/evm/build/compile.mjs --check   compile in memory; exit 1 listing artifacts that differ
//
// sourceHash = sha256 over the sources sorted by path, each fed as `<path>\0<content>\0`
// (paths relative to adapters/evm/contracts, `/`-separated).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const EVM = join(HERE, '..');
const REPO = join(EVM, '..', '..');
const CONTRACTS = join(EVM, 'contracts');
const ARTIFACTS = join(EVM, 'artifacts');
const require = createRequire(join(REPO, 'package.json'));
const solc = require('solc');

// Interfaces whose ABI is useful without bytecode.
const KEEP_WITHOUT_BYTECODE = new Set(['ILightClient']);

const SETTINGS = {
  evmVersion: 'berlin',
  optimizer: { enabled: true, runs: 200 },
  viaIR: true,
};

function listSources(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listSources(full));
    else if (entry.name.endsWith('.sol')) out.push(relative(CONTRACTS, full).split(sep).join('/'));
  }
  return out.sort();
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys(value[k])]));
  }
  return value;
}

function serialize(value) {
  return JSON.stringify(sortKeys(value), null, 2) + '\n';
}

function compile() {
  const paths = listSources(CONTRACTS);
  const sources = {};
  const hash = createHash('sha256');
  for (const path of paths) {
    const content = readFileSync(join(CONTRACTS, path), 'utf8');
    sources[path] = { content };
    hash.update(path + '\0' + content + '\0');
  }
  const sourceHash = hash.digest('hex');
  const input = {
    language: 'Solidity',
    sources,
    settings: {
      ...SETTINGS,
      outputSelection: {
        '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'], '': ['ast'] },
      },
    },
  };
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import: (p) => ({ error: `import ${p} not found: every source must live under adapters/evm/contracts` }),
    }),
  );
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) process.stderr.write((e.formattedMessage || e.message) + '\n');
  if (errors.length) {
    process.stderr.write(`compile.mjs: ${errors.length} compiler error(s)\n`);
    process.exit(2);
  }
  const kinds = contractKinds(output);
  const artifacts = {};
  for (const path of Object.keys(output.contracts).sort()) {
    for (const [name, c] of Object.entries(output.contracts[path])) {
      const bytecode = c.evm.bytecode.object;
      const kind = kinds[`${path}:${name}`];
      const keep = KEEP_WITHOUT_BYTECODE.has(name) || (bytecode.length > 0 && kind === 'contract');
      if (!keep) continue;
      if (artifacts[name]) throw new Error(`two contracts named ${name}`);
      artifacts[name] = serialize({
        contractName: name,
        abi: c.abi,
        bytecode: '0x' + bytecode,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
        compiler: { version: solc.version(), settings: SETTINGS },
        sourceHash,
      });
    }
  }
  return artifacts;
}

function contractKinds(output) {
  const kinds = {};
  for (const [path, src] of Object.entries(output.sources)) {
    for (const node of src.ast.nodes) {
      if (node.nodeType === 'ContractDefinition') {
        kinds[`${path}:${node.name}`] = node.abstract ? 'abstract' : node.contractKind;
      }
    }
  }
  return kinds;
}

function existing() {
  if (!existsSync(ARTIFACTS)) return [];
  return readdirSync(ARTIFACTS).filter((f) => f.endsWith('.json')).sort();
}

function main() {
  const check = process.argv.includes('--check');
  const artifacts = compile();
  const names = Object.keys(artifacts).sort();
  if (check) {
    const problems = [];
    for (const name of names) {
      const file = join(ARTIFACTS, `${name}.json`);
      if (!existsSync(file)) problems.push(`${name}.json: missing`);
      else if (readFileSync(file, 'utf8') !== artifacts[name]) problems.push(`${name}.json: differs from a fresh compile`);
    }
    for (const file of existing()) {
      if (!artifacts[file.slice(0, -5)]) problems.push(`${file}: stale (no such contract)`);
    }
    if (problems.length) {
      process.stderr.write('artifacts out of date (run `make contracts`):\n  ' + problems.join('\n  ') + '\n');
      process.exit(1);
    }
    process.stdout.write(`artifacts up to date (${names.length} contracts)\n`);
    return;
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const file of existing()) {
    if (!artifacts[file.slice(0, -5)]) unlinkSync(join(ARTIFACTS, file));
  }
  for (const name of names) {
    const file = join(ARTIFACTS, `${name}.json`);
    if (!existsSync(file) || readFileSync(file, 'utf8') !== artifacts[name]) writeFileSync(file, artifacts[name]);
  }
  process.stdout.write(`wrote ${names.length} artifacts to ${relative(REPO, ARTIFACTS)}\n`);
}

main();
