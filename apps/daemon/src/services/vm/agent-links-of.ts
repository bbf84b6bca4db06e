import { AgentLinks } from '@banger/vm';
import type { DaemonContext } from '../../context.js';

const linksByDaemon = new WeakMap<DaemonContext, AgentLinks>();

/** The daemon's one set of agent connections, shared by the vm service and completion (a VM's chardev takes one connection). */
export function agentLinksOf(ctx: DaemonContext): AgentLinks {
  let links = linksByDaemon.get(ctx);
  if (!links) {
    links = new AgentLinks(ctx.version, ctx.log.child({ service: 'vm' }));
    linksByDaemon.set(ctx, links);
  }
  return links;
}
