// The API token lives in localStorage: pasted once, removed by signing out.
const KEY = 'cairn.token'

export const storedToken = (): string | null => localStorage.getItem(KEY)
export const storeToken = (token: string) => localStorage.setItem(KEY, token)
export const forgetToken = () => {
  localStorage.removeItem(KEY)
  localStorage.removeItem(ORGANIZATION_KEY)
}

// The organization the UI acts in (sent as X-Cairn-Organization); none: the user's home one.
const ORGANIZATION_KEY = 'cairn.organization'
export const storedOrganization = (): string | null => localStorage.getItem(ORGANIZATION_KEY)
export const storeOrganization = (id: string) => localStorage.setItem(ORGANIZATION_KEY, id)
