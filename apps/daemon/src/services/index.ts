import type { Service } from '../service.js';
import { completeService } from './complete.js';
import { daemonService } from './daemon.js';
import { helloService } from './hello.js';
import { imageService } from './image.js';
import { kernelService } from './kernel.js';

/** Every service the daemon runs, registered in this order. Add one line per new service. */
export const services: readonly Service[] = [helloService, daemonService, completeService, kernelService, imageService];
