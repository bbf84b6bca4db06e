#!/usr/bin/env node
// Reads the log of `nx run-many … test` and prints what CI shows last: why each failed
// task failed (its FAIL lines, error lines and unhandled errors, a bounded excerpt), then
// exactly `tests: N passed, M failed`. CI keeps only the tail of the output, so the cause
// of a red run has to be repeated here, next to the counts, or it is lost. Skipped tests are
// counted on the line above it; a file that failed outside its tests (a beforeAll, an unhandled
// error) counts as failed, since its tests may never have run.
// Usage: node test-summary.mjs <log> [nx exit status]
import { readFileSync } from 'node:fs';

const [logPath, statusArg = '0'] = process.argv.slice(2);
const text = readFileSync(logPath, 'utf8').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
const lines = text.split('\n');

/** The log cut at nx's `> nx run project:target` headers. */
function tasks() {
  const out = [];
  let current = { name: '(nx)', lines: [] };
  for (const line of lines) {
    const header = /^> nx run (\S+)/.exec(line);
    if (header) {
      out.push(current);
      current = { name: header[1], lines: [] };
    } else current.lines.push(line);
  }
  out.push(current);
  return out;
}

let passed = 0;
let failed = 0;
let skipped = 0;
let failedOutsideTests = 0;
const fileProblems = [];
const excerpts = [];
const MAX_LINES_PER_TASK = 40;

for (const task of tasks()) {
  let taskFailedFiles = 0;
  let taskErrors = 0;
  let taskFailedTests = 0;
  for (const line of task.lines) {
    const tests = /^\s*Tests\s+(.*)$/.exec(line);
    if (tests && /\d/.test(tests[1])) {
      for (const [, n, word] of tests[1].matchAll(/(\d+) (passed|failed|skipped|todo)/g)) {
        if (word === 'passed') passed += Number(n);
        else if (word === 'skipped' || word === 'todo') skipped += Number(n);
        else {
          failed += Number(n);
          taskFailedTests += Number(n);
        }
      }
    }
    const files = /^\s*Test Files\s+(\d+) failed/.exec(line);
    if (files) taskFailedFiles += Number(files[1]);
    const errors = /^\s*Errors\s+(\d+) errors?/.exec(line);
    if (errors) taskErrors += Number(errors[1]);
  }
  const failedHere = taskFailedFiles > 0 || taskErrors > 0 || task.lines.some((l) => /^\s*(FAIL|error TS\d+|Error:)/.test(l));
  if (!failedHere) continue;
  if (taskFailedTests === 0 && (taskFailedFiles > 0 || taskErrors > 0)) {
    // A suite whose setup failed (its tests then show as skipped) or an unhandled error is a failure too.
    failedOutsideTests += Math.max(taskFailedFiles, taskErrors);
    fileProblems.push(`${task.name}: every test passed, but ${taskFailedFiles} file(s) failed and ${taskErrors} unhandled error(s) (a before/afterAll hook, an import or an error outside a test)`);
  }
  const picked = [];
  task.lines.forEach((line, i) => {
    if (/^\s*(FAIL\b|×|❯ .*:\d+:\d+|[A-Za-z]*Error\b|error TS\d+|⎯+ (Unhandled|Failed))/.test(line) || /Unhandled (Error|Rejection)|This error originated in/.test(line)) {
      for (let j = i; j <= Math.min(i + 2, task.lines.length - 1); j++) picked.push(j);
    }
  });
  const unique = [...new Set(picked)].slice(0, MAX_LINES_PER_TASK);
  if (unique.length > 0) excerpts.push({ name: task.name, lines: unique.map((j) => task.lines[j]) });
}

if (Number(statusArg) !== 0) {
  for (const excerpt of excerpts) {
    console.log(`--- why ${excerpt.name} failed (excerpt) ---`);
    for (const line of excerpt.lines) console.log(line.slice(0, 300));
  }
  for (const problem of fileProblems) console.log(`make test: ${problem}`);
}
console.log(`tests skipped: ${skipped}${failedOutsideTests > 0 ? `; failures outside a test (setup, teardown, unhandled errors): ${failedOutsideTests}, counted as failed below` : ''}`);
console.log(`tests: ${passed} passed, ${failed + failedOutsideTests} failed`);
