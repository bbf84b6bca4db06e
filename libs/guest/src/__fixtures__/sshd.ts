// Moved to ../testing (`@banger/guest/testing`); kept only so tests under
// src/workspace (being edited by someone else right now) keep compiling until
// they import '../testing/index.js' directly. Delete once nothing imports it.
export * from '../testing/index.js';
