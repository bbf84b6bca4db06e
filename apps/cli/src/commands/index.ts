import type { CommandGroup } from './command-group.js';
import { daemonCommands } from './daemon/index.js';
import { doctorCommand } from './doctor/index.js';
import { imageCommands } from './image/index.js';
import { kernelCommands } from './kernel/index.js';
import { sshConfigCommands } from './ssh-config/index.js';
import { vmCommands } from './vm/index.js';

/**
 * Every top-level command group, in help order. A new group (vm, image,
 * kernel…) adds `commands/<group>/index.ts` exporting a CommandGroup and one
 * line here. Resource-name arguments use nameArgument()/nameOption() from
 * completion/resource-names.ts so shell completion lists live names.
 */
export const commandGroups: readonly CommandGroup[] = [daemonCommands, doctorCommand, vmCommands, kernelCommands, imageCommands, sshConfigCommands];
