/** The agent's version: banger's (libs/api BANGER_VERSION; a test keeps them equal). Not imported, to keep the bundle free of the daemon's dependencies. */
export const AGENT_VERSION = '0.1.0';
