// A Firecracker API double: an HTTP server on a Unix socket that answers like
// Firecracker v1.16.1's micro_http API server, and is stricter than the real
// one wherever the driver could be wrong. Plain JS so the stand-in firecracker
// executable can run it with `node` (no TypeScript loader in Node 20).
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv-draft-04';
import yaml from 'js-yaml';

const here = dirname(fileURLToPath(import.meta.url));
export const SPEC_PATH = join(here, '..', 'firecracker-api', 'firecracker-api.yaml');

/** Adds additionalProperties:false to every object schema that lists properties (Firecracker's deny_unknown_fields). */
export function strictify(schema) {
  if (Array.isArray(schema)) return schema.map(strictify);
  if (!schema || typeof schema !== 'object') return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) out[k] = strictify(v);
  if (out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

/** Loads the spec and returns validate(method, path) -> { validate, template, params } or undefined. */
export function loadSpec(specPath = SPEC_PATH) {
  const spec = yaml.load(readFileSync(specPath, 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: false, logger: false });
  // Swagger's integer formats; the sizes themselves are checked by Firecracker.
  ajv.addFormat('int32', true);
  ajv.addFormat('int64', true);
  const definitions = strictify(spec.definitions);
  ajv.addSchema({ id: 'fc', definitions }, 'fc');
  const routes = [];
  for (const [template, ops] of Object.entries(spec.paths)) {
    const names = [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    const regex = new RegExp(`^${template.replace(/\{\w+\}/g, '([^/]+)')}$`);
    for (const [method, op] of Object.entries(ops)) {
      if (method === 'parameters') continue;
      const bodyParam = (op.parameters ?? []).find((p) => p.in === 'body');
      let validate;
      if (bodyParam) {
        const bodySchema = JSON.parse(JSON.stringify(strictify(bodyParam.schema)).replaceAll('"#/definitions/', '"fc#/definitions/'));
        validate = ajv.compile(bodySchema);
      }
      routes.push({ method: method.toUpperCase(), template, regex, names, validate, bodyRequired: !!bodyParam?.required });
    }
  }
  return (method, path) => {
    for (const r of routes) {
      const m = r.regex.exec(path);
      if (m && r.method === method) return { ...r, params: Object.fromEntries(r.names.map((n, i) => [n, decodeURIComponent(m[i + 1])])) };
    }
    return undefined;
  };
}

const PRE_BOOT_ONLY = new Set([
  'PUT /boot-source', 'PUT /machine-config', 'PATCH /machine-config', 'PUT /drives/{drive_id}', 'PUT /network-interfaces/{iface_id}',
  'PUT /vsock', 'PUT /logger', 'PUT /metrics', 'PUT /balloon', 'PUT /entropy', 'PUT /serial', 'PUT /cpu-config', 'PUT /mmds/config',
  'PUT /pmem/{id}', 'PUT /snapshot/load',
]);
const RUNTIME_ONLY = new Set(['PATCH /drives/{drive_id}', 'PATCH /network-interfaces/{iface_id}', 'PATCH /vm', 'PUT /snapshot/create', 'PATCH /balloon']);
const RUNTIME_ACTIONS = new Set(['SendCtrlAltDel', 'FlushMetrics']);
const ID_FIELD = { drive_id: 'drive_id', iface_id: 'iface_id', id: 'id' };

class Fault extends Error {}
/** A fault after which Firecracker's process is unusable and exits (a failed /snapshot/load). */
class FatalFault extends Fault {}

/** What the double writes as a snapshot's state file: the configuration a load gives back. */
const SNAPSHOT_MAGIC = 'firecracker-double snapshot v1';

/**
 * Creates the double. Options:
 *  - socketPath: where to listen (must not exist, like the real server)
 *  - instanceId: the --id
 *  - failAt: "PUT /drives/rootfs" → that request gets a 400 with an injected fault_message
 *  - version: what GET /version reports (default 1.16.1)
 *  - onRequest(record): every request and the answer given
 *  - onStart({ bootArgs }): called after InstanceStart succeeds, with the boot_args PUT /boot-source gave
 *  - onCtrlAltDel(): called on SendCtrlAltDel
 *  - onRestore({ snapshotPath, net, vsockPath, drives }): called after /snapshot/load succeeds; drives: [{ id, opened }], the absolute file each drive reopened
 *  - onFatal(): called after answering a request that leaves Firecracker unusable (a failed load): the real one exits
 */
export function createFirecrackerDouble(options) {
  const route = loadSpec(options.specPath);
  const state = { started: false, paused: false, bootSource: false, machineConfig: false, drives: new Map(), vsockServer: undefined, configured: [] };

  // Host-initiated vsock: `CONNECT <port>\n`. A guest agent "listens" on
  // port 1024 only once the VM runs and echoes; any other port is closed, as
  // Firecracker does when nothing in the guest listens. Bound at PUT /vsock or
  // /snapshot/load, like Firecracker, which fails when the path exists.
  const bindVsock = (udsPath) => {
    if (existsSync(udsPath)) throw new (state.loading ? FatalFault : Fault)(`Cannot create backend for vsock device: UnixBind(Os { code: 98, kind: AddrInUse, message: "Address in use" })`);
    state.vsockServer = createNetServer((conn) => {
      let line = '';
      const onData = (chunk) => {
        line += chunk.toString('utf8');
        if (!line.includes('\n')) return;
        conn.removeListener('data', onData);
        const port = /^CONNECT (\d+)\n/.exec(line)?.[1];
        if (port !== '1024' || !state.started || state.paused) return conn.destroy();
        conn.write('OK 1073741824\n');
        const rest = line.slice(line.indexOf('\n') + 1);
        if (rest) conn.write(rest);
        conn.pipe(conn);
      };
      conn.on('data', onData);
    }).listen(udsPath);
    state.vsockPath = udsPath;
  };

  /** PUT /snapshot/load, with the checks Firecracker v1.16.1 makes; any failure after parsing is fatal for the process. */
  const loadSnapshot = (body) => {
    const bootSpecific = state.configured.filter((k) => k !== 'PUT /logger' && k !== 'PUT /metrics');
    if (bootSpecific.length > 0) throw new Fault('Loading a microVM snapshot not allowed after configuring boot-specific resources.');
    if ((body.mem_backend === undefined) === (body.mem_file_path === undefined)) {
      throw new Fault('An error occurred when deserializing the json body of a request: either mem_backend or mem_file_path must be specified.');
    }
    const memPath = body.mem_backend?.backend_path ?? body.mem_file_path;
    state.loading = true;
    let saved;
    try {
      saved = JSON.parse(readFileSync(body.snapshot_path, 'utf8'));
    } catch (e) {
      throw new FatalFault(`Load snapshot error: Failed to restore from snapshot: Failed to get snapshot state from file: ${e.code === 'ENOENT' ? 'No such file or directory (os error 2)' : 'Snapshot CRC64 validation failed'}`);
    }
    if (saved?.magic !== SNAPSHOT_MAGIC) throw new FatalFault('Load snapshot error: Failed to restore from snapshot: Failed to get snapshot state from file: Snapshot CRC64 validation failed');
    if (!existsSync(memPath)) throw new FatalFault('Load snapshot error: Failed to restore from snapshot: Failed to load guest memory: Error creating guest memory from file: No such file or directory (os error 2)');
    for (const drive of saved.drives) {
      if (!existsSync(drive.path_on_host)) throw new FatalFault(`Load snapshot error: Failed to restore from snapshot: Failed to restore devices: Block(BackingFile(Os { code: 2, kind: NotFound, message: "No such file or directory" }, "${drive.path_on_host}"))`);
    }
    const net = saved.net ? { ...saved.net } : undefined;
    for (const o of body.network_overrides ?? []) {
      if (!net || net.iface_id !== o.iface_id) throw new FatalFault(`Load snapshot error: Failed to restore from snapshot: Invalid network override: no network interface ${o.iface_id}`);
      net.host_dev_name = o.host_dev_name;
    }
    if (body.vsock_override && !saved.vsock) throw new FatalFault('Load snapshot error: Failed to restore from snapshot: Invalid vsock override: the snapshot has no vsock device');
    if (saved.vsock) bindVsock(body.vsock_override?.uds_path ?? saved.vsock.uds_path);
    state.loading = false;
    state.machineConfigBody = saved.machineConfig;
    state.drives = new Map(saved.drives.map((d) => [d.drive_id, d]));
    state.net = net;
    state.vsock = saved.vsock && { ...saved.vsock, uds_path: state.vsockPath };
    state.bootArgs = saved.bootArgs;
    state.started = true;
    state.paused = body.resume_vm !== true;
    // Firecracker reopens each drive at the path it was given, a relative one from the process's cwd.
    const drives = saved.drives.map((d) => ({ id: d.drive_id, opened: resolvePath(d.path_on_host) }));
    options.onRestore?.({ snapshotPath: body.snapshot_path, net, vsockPath: state.vsockPath, drives });
  };

  const handle = (method, path, headers, raw) => {
    if (options.failAt === `${method} ${path}`) throw new Fault(`injected failure at ${method} ${path}`);
    const r = route(method, path);
    if (!r) throw new Fault(`Invalid request method and/or path: ${method} ${path}.`);
    const key = `${method} ${r.template}`;
    if (method === 'GET') {
      if (path === '/version') return [200, { firecracker_version: options.version ?? '1.16.1' }];
      if (path === '/') return [200, { app_name: 'Firecracker', id: options.instanceId ?? 'anonymous-instance', state: !state.started ? 'Not started' : state.paused ? 'Paused' : 'Running', vmm_version: options.version ?? '1.16.1' }];
      if (path === '/machine-config') return [200, state.machineConfigBody ?? { vcpu_count: 1, mem_size_mib: 128, smt: false }];
      return [200, {}];
    }
    // micro_http reads a body only by Content-Length; a chunked body reads as empty.
    const chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');
    if (raw.length === 0 || chunked || headers['content-length'] === undefined) throw new Fault(`Empty ${method} request.`);
    let body;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new Fault(`An error occurred when deserializing the json body of a request: ${e.message}`);
    }
    for (const [name, value] of Object.entries(r.params)) {
      if (!/^[A-Za-z0-9_]+$/.test(value)) throw new Fault('API Resource IDs can only contain alphanumeric characters and underscores.');
      if (body[ID_FIELD[name]] !== value) throw new Fault('The id from the path does not match the id from the body!');
    }
    if (r.validate && !r.validate(body)) {
      const e = r.validate.errors[0];
      const field = e.params?.additionalProperty ? `unknown field \`${e.params.additionalProperty}\`` : `${e.instancePath || 'body'} ${e.message}`;
      throw new Fault(`An error occurred when deserializing the json body of a request: ${field}.`);
    }
    if (state.started && PRE_BOOT_ONLY.has(key)) throw new Fault('The requested operation is not supported after starting the microVM.');
    if (!state.started && RUNTIME_ONLY.has(key)) throw new Fault('The requested operation is not supported before starting the microVM.');

    switch (r.template) {
      case '/logger':
        if (body.log_path && !existsSync(body.log_path)) throw new Fault(`Logger error: Failed to open target file: No such file or directory (os error 2)`);
        break;
      case '/machine-config':
        if (body.smt && body.vcpu_count > 1 && body.vcpu_count % 2) throw new Fault('The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is enabled.');
        state.machineConfig = true;
        state.machineConfigBody = body;
        break;
      case '/boot-source':
        for (const [what, p] of [['kernel', body.kernel_image_path], ['initrd', body.initrd_path]]) {
          if (p === undefined) continue;
          try {
            accessSync(p, constants.R_OK);
          } catch {
            throw new Fault(`Boot source error: The ${what} file cannot be opened: No such file or directory (os error 2)`);
          }
        }
        state.bootSource = true;
        state.bootArgs = body.boot_args ?? '';
        break;
      case '/drives/{drive_id}': {
        if (body.socket === undefined && (body.path_on_host === undefined || body.is_read_only === undefined)) {
          throw new Fault('Unable to create the block device: path_on_host and is_read_only are required for virtio-block.');
        }
        if (!existsSync(body.path_on_host)) throw new Fault(`Unable to create the block device BackingFile(Os { code: 2, kind: NotFound, message: "No such file or directory" }, "${body.path_on_host}")`);
        const otherRoot = [...state.drives.values()].find((d) => d.is_root_device && d.drive_id !== body.drive_id);
        if (body.is_root_device && otherRoot) throw new Fault('A root block device already exists!');
        state.drives.set(body.drive_id, body);
        break;
      }
      case '/vsock':
        bindVsock(body.uds_path);
        state.vsock = body;
        break;
      case '/network-interfaces/{iface_id}':
        state.net = body;
        break;
      case '/snapshot/load':
        loadSnapshot(body);
        break;
      case '/vm':
        state.paused = body.state === 'Paused';
        break;
      case '/snapshot/create':
        if (!state.paused) throw new Fault('Cannot create snapshot: the microVM is not paused.');
        // Firecracker creates or truncates both files.
        writeFileSync(body.mem_file_path, `memory of ${state.machineConfigBody?.mem_size_mib} MiB\n`);
        writeFileSync(body.snapshot_path, JSON.stringify({
          magic: SNAPSHOT_MAGIC,
          machineConfig: state.machineConfigBody,
          drives: [...state.drives.values()],
          net: state.net,
          vsock: state.vsock,
          bootArgs: state.bootArgs,
        }));
        break;
      case '/actions':
        if (body.action_type === 'InstanceStart') {
          if (state.started) throw new Fault('The requested operation is not supported after starting the microVM.');
          if (!state.bootSource) throw new Fault('Cannot start microvm without kernel configuration.');
          if (!state.machineConfig) throw new Fault('Cannot start microvm without machine configuration.');
          state.started = true;
          options.onStart?.({ bootArgs: state.bootArgs });
        } else if (RUNTIME_ACTIONS.has(body.action_type)) {
          if (!state.started) throw new Fault('The requested operation is not supported before starting the microVM.');
          if (body.action_type === 'SendCtrlAltDel') options.onCtrlAltDel?.();
        }
        break;
      default:
        break;
    }
    state.configured.push(key);
    return [204, undefined];
  };

  const server = createHttpServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      let status;
      let answer;
      let fatal = false;
      try {
        [status, answer] = handle(req.method, req.url, req.headers, raw);
      } catch (e) {
        if (!(e instanceof Fault)) throw e;
        [status, answer] = [400, { fault_message: e.message }];
        fatal = e instanceof FatalFault;
      }
      let body;
      try {
        body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
      } catch {
        body = raw.toString('utf8');
      }
      options.onRequest?.({ method: req.method, path: req.url, contentLength: req.headers['content-length'], body, status, answer });
      const text = answer === undefined ? '' : JSON.stringify(answer);
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
      res.end(text, () => fatal && options.onFatal?.());
    });
  });

  return {
    state,
    listen: () =>
      new Promise((resolve, reject) => {
        // Like Firecracker: fail when anything already exists at the socket path.
        if (existsSync(options.socketPath)) return reject(new Error(`Failed to open the API socket at: ${options.socketPath}. Check that it is not already used.`));
        server.once('error', reject);
        server.listen(options.socketPath, () => resolve());
      }),
    // Like Firecracker, the sockets are NOT removed on close; the driver must clean them up.
    close: () => new Promise((resolve) => {
      state.vsockServer?.close();
      server.close(() => resolve());
    }),
  };
}

