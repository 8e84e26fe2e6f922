// Entry point of the provider layer: pick an adapter for a configuration.
import { createAnthropicProvider, createBedrockProvider } from './anthropic.ts'
import { createGoogleProvider } from './google.ts'
import { createOpenAIChatProvider } from './openai-chat.ts'
import { createOpenAIResponsesProvider } from './openai-responses.ts'
import type { ModelProvider, ProviderConfig } from './types.ts'

export * from './types.ts'
export { classifyProviderError } from './errors.ts'

/** Throws ProviderError kind 'config' when required settings are missing. */
export function createProvider(config: ProviderConfig): ModelProvider {
  switch (config.kind) {
    case 'anthropic':
      return createAnthropicProvider(config)
    case 'bedrock':
      return createBedrockProvider(config)
    case 'openai-chat':
      return createOpenAIChatProvider(config)
    case 'openai-responses':
      return createOpenAIResponsesProvider(config)
    case 'azure-openai':
    case 'openai-compatible':
      return config.api === 'responses' ? createOpenAIResponsesProvider(config) : createOpenAIChatProvider(config)
    case 'google':
      return createGoogleProvider(config)
  }
}
