import { readManifest } from '@banger/images';
import { readKernelBundle } from '@banger/kernels';
import type { Step } from '@banger/taskgraph';
import { BundleArtifact, parseArtifactManifest, type BundleKind } from '../bundle-artifact.js';
import { manifestSelector } from '../reference.js';
import { RegistryClient } from '../registry-client.js';
import { hasExplicitTag, parseBundleRef, versionTag } from './bundle-ref.js';
import { publishImageBundle, publishKernelBundle, type PublishedBundle } from './publish-bundle.js';

/**
 * The `<kind>.publish` step of `image build --publish oci://…` and `kernel
 * build --publish oci://…`: pushes the bundle in `dir` to `reference`.
 * Satisfied when the registry already holds, under that reference, a bundle
 * of this name and version (so a repeated build that changed nothing pushes
 * nothing). `needs` is the step that writes `dir` (none for `image publish`
 * of an existing image). `workDir` holds the compressed files while they are pushed.
 */
export function ociPublishStep(kind: BundleKind, dir: string, reference: string, needs: string | undefined, workDir: string): Step<PublishedBundle> {
  const ref = parseBundleRef(reference);
  const local = async (): Promise<{ name: string; version: string } | undefined> =>
    (kind === 'image' ? readManifest(dir) : readKernelBundle(dir)).then(
      (m) => ({ name: m.name, version: m.version }),
      () => undefined,
    );
  return {
    id: `${kind}.publish`,
    title: `Publish ${kind} to ${reference}`,
    needs: needs ? [needs] : [],
    inputs: () => ({ reference }),
    isSatisfied: async (plan) => {
      const have = await local();
      if (!have) return { satisfied: false, reason: `no ${kind} in ${dir} yet` };
      // Without a tag the version is the tag, so look there.
      const selector = hasExplicitTag(reference) || ref.digest ? manifestSelector(ref) : versionTag(have.version);
      try {
        const fetched = await new RegistryClient({ registry: ref.registry, signal: plan.signal }).getManifest(ref.repository, selector);
        const annotations = parseArtifactManifest(fetched.body, kind, reference).annotations;
        if (annotations[BundleArtifact.annotation.name] === have.name && annotations[BundleArtifact.annotation.version] === have.version) return true;
        return { satisfied: false, reason: `${reference} holds another build` };
      } catch (error) {
        return { satisfied: false, reason: `${reference}: ${(error as Error).message}` };
      }
    },
    run: (step, report) => {
      const options = { reference, workDir, signal: step.signal, progress: report };
      return kind === 'image' ? publishImageBundle(dir, options) : publishKernelBundle(dir, options);
    },
    hint: 'check that the registry is reachable and accepts pushes (docker login for credentials), then build again: the build itself is not repeated',
  };
}
