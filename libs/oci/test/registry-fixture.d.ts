/** Asks the kernel for a free loopback port. */
export declare function freePort(): Promise<number>;
/** A real Debian `docker-registry` on 127.0.0.1, storing into `dir`. */
export interface TestRegistry {
    host: string;
    dataDir: string;
    stop(): Promise<void>;
}
export declare function startRegistry(dir: string): Promise<TestRegistry>;
export declare const sha256: (b: Buffer | string) => string;
/** Pushes a blob with the distribution API's monolithic upload (POST, then PUT ?digest=). */
export declare function pushBlob(host: string, repo: string, bytes: Buffer): Promise<string>;
/** Pushes a manifest or index under a tag (or digest); returns its digest. */
export declare function pushManifest(host: string, repo: string, tag: string, manifest: object, mediaType: string): Promise<string>;
/** A layer blob plus the uncompressed digest the config lists. */
export interface BuiltLayer {
    bytes: Buffer;
    digest: string;
    diffId: string;
}
/** Pushes layers, a config and an OCI manifest; returns the manifest digest and descriptor. */
export declare function pushImage(host: string, repo: string, tag: string, layers: readonly BuiltLayer[], platform?: {
    os: string;
    architecture: string;
}): Promise<{
    digest: string;
    size: number;
    configDigest: string;
}>;
/** What a FrontProxy does besides forwarding. */
export interface ProxyBehaviour {
    /** Require Bearer tokens: 401 + challenge, tokens from `/token` for these basic credentials (or anonymous when undefined). */
    auth?: {
        username?: string;
        password?: string;
        tokenField: 'token' | 'access_token';
    };
    /** Require HTTP Basic credentials directly on /v2/ (no token server). */
    basicAuth?: {
        username: string;
        password: string;
    };
    /** Flip a byte in the body of this blob's GET. */
    corruptDigest?: string;
    /** Cut the connection halfway through the body of the first `times` GETs of this blob, then serve it normally. */
    dropBlob?: {
        digest: string;
        times: number;
    };
    /** Answer blob GETs with a 307 to this other origin (a "CDN"), which serves them from the registry. */
    redirectBlobsTo?: string;
}
/** A loopback HTTP proxy in front of the real registry that logs requests and misbehaves on demand. */
export interface FrontProxy {
    host: string;
    /** `METHOD path` of every request received, and the Authorization header seen. */
    log: {
        method: string;
        path: string;
        authorization?: string;
    }[];
    behaviour: ProxyBehaviour;
    tokensIssued: {
        scope: string | null;
        service: string | null;
        basic: boolean;
    }[];
    stop(): Promise<void>;
}
export declare function startProxy(upstream: string, behaviour?: ProxyBehaviour): Promise<FrontProxy>;
//# sourceMappingURL=registry-fixture.d.ts.map