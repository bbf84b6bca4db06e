// Imported first by main.ts, before any dependency evaluates: NO_COLOR wins
// over FORCE_COLOR (see progress/pick-mode.ts), and dropping the loser keeps
// Node from printing "Warning: The 'NO_COLOR' env is ignored…" as the first
// line of every command's stderr (yoctocolors asks for the colour depth at
// import time).
if (process.env['NO_COLOR'] && process.env['FORCE_COLOR'] !== undefined) delete process.env['FORCE_COLOR'];

export {};
