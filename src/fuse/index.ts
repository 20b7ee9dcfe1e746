// The FUSE engine's public surface.
export { FuseSession, threadPoolEnv, type SessionOptions } from './session.js';
export { Dispatcher, type DispatcherOptions, type SendMessage } from './dispatcher.js';
export { mainline, extendProfile, ENGINE_FLAGS, ENGINE_REFUSED, type AbiProfile, type ProfileChooser, type ProfileExtension, type KernelInit, type InitReply } from './abi.js';
export { defineOp, mainlineOps, type OpSpec, type OpCall, type ReplyBody } from './ops.js';
export { negotiateInit, decodeInitIn, type InitLimits, type InitResult } from './init.js';
export { Args, ProtocolError, safeU64, safeId, type Header } from './request.js';
export * from './filesystem.js';
export { Op, InitFlag, Notify, Fattr, Fopen, FUSE_ROOT_ID } from './opcodes.js';
export { unmount } from '../sys/fuse-dev.js';
