/**
 * The opflex agent reads the files the host agent writes; their format lives
 * in lib/node-state so that lib/ (the NetworkPolicy compiler) can name it
 * without importing an agent.
 */
export * from '../../lib/node-state/files.ts';
