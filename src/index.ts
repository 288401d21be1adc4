/** lnmsg as a library: exact BOLT codecs and the Sphinx onion. */
export * from './onion/index.js';
export * from './wire/index.js';
