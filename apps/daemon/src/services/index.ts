import type { Service } from '../service.js';
import { completeService } from './complete.js';
import { daemonService } from './daemon.js';
import { dnsService } from './dns.js';
import { helloService } from './hello.js';
import { imageService } from './image.js';
import { kernelService } from './kernel.js';
import { vmService } from './vm/index.js';

/** Every service the daemon runs, registered in this order. Add one line per new service. */
export const services: readonly Service[] = [helloService, daemonService, dnsService, completeService, kernelService, imageService, vmService];
