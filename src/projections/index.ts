export { createProjectionEngine, LAG_COUNT_CAP } from './engine.ts'
export * from './types.ts'
