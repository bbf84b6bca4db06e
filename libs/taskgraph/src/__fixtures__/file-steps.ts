import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileDigest } from '../fingerprint.js';
import type { Step, StepContext, StepReport } from '../step.js';

/** What a file step records as its outputs. */
export interface FileOutputs {
  path: string;
  sha256: string;
}

/** A test step that produces `<dir>/<id>.out` atomically and checks it on disk. */
export interface FileStepSpec {
  id: string;
  dir: string;
  needs?: string[];
  title?: string;
  /** Input files, hashed by content: name → path. */
  files?: Record<string, string>;
  /** Literal inputs (config values). */
  config?: Record<string, string>;
  /** Content of the output file; defaults to the id plus the needed outputs' hashes. */
  produce?: (ctx: StepContext, report: StepReport) => Promise<string>;
  hint?: string;
  destroys?: string;
}

export const outPath = (dir: string, id: string): string => join(dir, `${id}.out`);

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** A real step over real files: inputs are content hashes, satisfaction is "output exists with the recorded hash". */
export function fileStep(spec: FileStepSpec): Step<FileOutputs> {
  const path = outPath(spec.dir, spec.id);
  return {
    id: spec.id,
    title: spec.title ?? `Make ${spec.id}`,
    needs: spec.needs ?? [],
    ...(spec.hint ? { hint: spec.hint } : {}),
    ...(spec.destroys ? { destroys: () => spec.destroys } : {}),
    async inputs(ctx) {
      const entries = await Promise.all(
        Object.entries(spec.files ?? {}).map(async ([name, file]) => [name, await fileDigest(file, ctx.signal)] as const),
      );
      return { ...Object.fromEntries(entries), ...spec.config };
    },
    async isSatisfied(ctx) {
      const recorded = ctx.previousOutputs as FileOutputs | undefined;
      const actual = await fileDigest(path);
      if (actual === 'missing') return { satisfied: false, reason: `${path} is missing` };
      return actual === recorded?.sha256 ? true : { satisfied: false, reason: `${path} was modified` };
    },
    async run(ctx, report) {
      const content = spec.produce
        ? await spec.produce(ctx, report)
        : `${spec.id}:${spec.needs?.map((id) => ctx.need<FileOutputs>(id).sha256).join(',') ?? ''}:${await readInputs(spec.files)}`;
      await ctx.atomicWrite(path, content);
      return { path, sha256: sha256(content) };
    },
  };
}

async function readInputs(files: Record<string, string> | undefined): Promise<string> {
  const texts = await Promise.all(Object.values(files ?? {}).map((file) => readFile(file, 'utf8')));
  return texts.join('|');
}
