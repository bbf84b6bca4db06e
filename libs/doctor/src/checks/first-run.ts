import type { CheckContext } from '../context.js';
import type { DoctorCheck, FirstRunProbe, FirstRunResource } from '../types.js';
import { buildProblems } from './build.js';

const describe = (kind: string, r: FirstRunResource): string =>
  r.installed
    ? `${kind} ${r.name} is installed`
    : r.source === 'bundle'
      ? `${kind} ${r.name} is pulled (published bundle${r.reference ? ` from ${r.reference}` : ''})`
      : r.source === 'recipe' ? `${kind} ${r.name} is built from its recipe` : `${kind} ${r.name} is in no catalog`;

/**
 * What the first `vm run` will do for the default image and kernel: use the
 * installed ones, pull a published bundle, or build from a recipe; and, for
 * a build, whether this host has every tool and privilege it needs (each
 * missing one named, so the problem shows here rather than minutes into the
 * run). Needs a running daemon for the catalogs (the doctor never starts one).
 */
export function firstRunCheck(ctx: CheckContext, probe: FirstRunProbe): DoctorCheck {
  return {
    id: 'first-run',
    title: 'first vm run',
    required: true,
    async run() {
      const plan = await probe();
      if (!plan) {
        return { status: 'ok', detail: 'not checked: the daemon is not running (it knows the catalogs)', hint: 'run banger daemon start, then banger doctor again, to see whether the first run pulls or builds' };
      }
      const parts = [describe('image', plan.image), describe('kernel', plan.kernel)];
      const unknown = [plan.image, plan.kernel].filter((r) => !r.installed && r.source === 'none');
      if (unknown.length) {
        return { status: 'fail', detail: `${parts.join('; ')}`, hint: 'check default_image_name / default_kernel_name and the catalog URLs in config.toml' };
      }
      if (![plan.image, plan.kernel].some((r) => !r.installed && r.source === 'recipe')) return { status: 'ok', detail: parts.join('; ') };
      const { missing, hints } = await buildProblems(ctx);
      if (missing.length === 0) return { status: 'ok', detail: `${parts.join('; ')}; this host has what the build needs` };
      return { status: 'fail', detail: `${parts.join('; ')}, but the build lacks ${missing.join('; ')}`, hint: hints.join('; ') };
    },
  };
}
