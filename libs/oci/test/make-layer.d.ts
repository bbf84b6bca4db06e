import tar from 'tar-stream';
/** One entry of a test layer: a tar-stream header plus file content. */
export type LayerEntry = Partial<tar.Header> & {
    name: string;
    content?: string | Buffer;
};
/** Builds an uncompressed tar in memory from entries, in the given order. */
export declare function makeTar(entries: readonly LayerEntry[]): Promise<Buffer>;
/** A gzip layer blob written to `path`; returns its digest (of the compressed bytes) and diff id. */
export declare function writeGzipLayer(path: string, entries: readonly LayerEntry[]): Promise<{
    digest: string;
    diffId: string;
    size: number;
    bytes: Buffer;
}>;
//# sourceMappingURL=make-layer.d.ts.map