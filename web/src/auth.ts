// The API token lives in localStorage: pasted once, removed by signing out.
const KEY = 'cairn.token'

export const storedToken = (): string | null => localStorage.getItem(KEY)
export const storeToken = (token: string) => localStorage.setItem(KEY, token)
export const forgetToken = () => localStorage.removeItem(KEY)
