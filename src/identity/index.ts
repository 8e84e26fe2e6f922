export * from './permissions.ts'
export * from './tokens.ts'
export * from './users.ts'
export { bootstrapAdmin, BOOTSTRAP_ADMIN_EMAIL, type BootstrapContext } from './bootstrap.ts'
