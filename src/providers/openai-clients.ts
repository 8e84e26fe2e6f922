// Builds the `openai` SDK client for the OpenAI-shaped provider kinds.
import OpenAI, { AzureOpenAI } from 'openai'
import { capturingFetch } from './debug-capture.ts'
import { ProviderError, type ProviderConfig } from './types.ts'

/** openai-compatible servers (Ollama, vLLM, LM Studio) often need no key, but the SDK insists on one. */
const PLACEHOLDER_KEY = 'cairn-no-key'

export function openAIClient(config: ProviderConfig): OpenAI {
  switch (config.kind) {
    case 'azure-openai': {
      if (!config.baseUrl) {
        throw new ProviderError('config', 'Azure OpenAI needs the resource endpoint (https://<resource>.openai.azure.com) as its base URL.', {
          retryable: false,
        })
      }
      if (!config.apiVersion) {
        throw new ProviderError('config', 'Azure OpenAI needs an apiVersion (for example 2024-10-21) in the provider settings.', {
          retryable: false,
        })
      }
      return new AzureOpenAI({
        endpoint: config.baseUrl,
        apiVersion: config.apiVersion,
        ...(config.deployment ? { deployment: config.deployment } : {}),
        ...(config.apiKey ? { apiKey: config.apiKey } : {}),
        maxRetries: 0,
        fetch: capturingFetch(),
      })
    }
    case 'openai-compatible':
      if (!config.baseUrl) {
        throw new ProviderError('config', 'An OpenAI-compatible provider needs a base URL (for example http://localhost:11434/v1).', {
          retryable: false,
        })
      }
      return new OpenAI({ apiKey: config.apiKey || PLACEHOLDER_KEY, baseURL: config.baseUrl, maxRetries: 0, fetch: capturingFetch() })
    default:
      if (!config.apiKey) {
        throw new ProviderError('config', 'OpenAI needs an API key in the provider settings.', { retryable: false })
      }
      return new OpenAI({ apiKey: config.apiKey, ...(config.baseUrl ? { baseURL: config.baseUrl } : {}), maxRetries: 0, fetch: capturingFetch() })
  }
}

export function providerName(config: ProviderConfig): string {
  return config.kind === 'azure-openai' ? 'Azure OpenAI' : config.kind === 'openai-compatible' ? 'The OpenAI-compatible server' : 'OpenAI'
}
