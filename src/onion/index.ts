export * from './capacity.js';
export * from './failure.js';
export * from './keys.js';
export * from './sphinx.js';
