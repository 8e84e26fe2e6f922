/**
 * A simple cost limit on top of mercurius' depth limit: each field costs 1, and a field
 * taking `first` or `limit` multiplies the cost of what it selects by that page size
 * (its default when not given). A query over MAX_COMPLEXITY is rejected before it runs.
 */
import { createRequire } from 'node:module'
import type { ASTVisitor, FieldNode, SelectionSetNode, ValidationContext, ValueNode } from 'graphql'

// mercurius loads graphql's CommonJS build; values we hand it must come from the same copy.
const graphql = createRequire(import.meta.url)('graphql') as typeof import('graphql')
const { GraphQLError, Kind } = graphql

export const MAX_QUERY_DEPTH = 8
export const MAX_COMPLEXITY = 10_000
const DEFAULT_PAGE = 50

function pageArgument(field: FieldNode, variables: Record<string, unknown>): number | null {
  for (const arg of field.arguments ?? []) {
    if (arg.name.value !== 'first' && arg.name.value !== 'limit') continue
    return numberOf(arg.value, variables)
  }
  return null
}

function numberOf(value: ValueNode, variables: Record<string, unknown>): number {
  if (value.kind === Kind.INT) return Number(value.value)
  if (value.kind === Kind.VARIABLE) {
    const v = variables[value.name.value]
    return typeof v === 'number' ? v : DEFAULT_PAGE
  }
  return DEFAULT_PAGE
}

export function complexityRule(variables: Record<string, unknown> = {}) {
  return (context: ValidationContext): ASTVisitor => {
    const cost = (set: SelectionSetNode | undefined, seen: Set<string>): number => {
      if (!set) return 0
      let total = 0
      for (const selection of set.selections) {
        if (selection.kind === Kind.FIELD) {
          const page = pageArgument(selection, variables)
          const inner = cost(selection.selectionSet, seen)
          total += 1 + (page === null ? inner : Math.max(1, page) * inner)
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          total += cost(selection.selectionSet, seen)
        } else {
          const name = selection.name.value
          if (seen.has(name)) continue // a cycle: reported by graphql's own NoFragmentCycles rule
          const fragment = context.getFragment(name)
          total += cost(fragment?.selectionSet, new Set([...seen, name]))
        }
      }
      return total
    }
    return {
      OperationDefinition(node) {
        const total = cost(node.selectionSet, new Set())
        if (total > MAX_COMPLEXITY)
          context.reportError(
            new GraphQLError(`the query costs ${total}; the limit is ${MAX_COMPLEXITY} (ask for smaller pages or fewer fields)`, {
              nodes: [node],
              extensions: { code: 'QUERY_TOO_COMPLEX', cost: total, limit: MAX_COMPLEXITY },
            }),
          )
      },
    }
  }
}

/**
 * mercurius's depth limit (`queryDepth`, which it applies to queries and mutations) as a validation
 * rule, for subscriptions (src/api/graphql-ws.ts). Counted as mercurius counts: a field or an
 * inline fragment is one level below its parent, a fragment spread none; a cycle is too deep.
 */
export function depthRule(max: number) {
  return (context: ValidationContext): ASTVisitor => {
    const depth = (set: SelectionSetNode, level: number, seen: Set<string>): number => {
      let deepest = level
      for (const selection of set.selections) {
        if (selection.kind !== Kind.FRAGMENT_SPREAD) {
          deepest = Math.max(deepest, selection.selectionSet ? depth(selection.selectionSet, level + 1, seen) : level + 1)
          continue
        }
        const name = selection.name.value
        if (seen.has(name)) return Infinity
        const fragment = context.getFragment(name)
        if (fragment) deepest = Math.max(deepest, depth(fragment.selectionSet, level, new Set([...seen, name])))
      }
      return deepest
    }
    return {
      OperationDefinition(node) {
        const deepest = depth(node.selectionSet, 0, new Set())
        if (deepest > max)
          context.reportError(
            new GraphQLError(`the query is ${deepest} levels deep; the limit is ${max}`, { nodes: [node], extensions: { code: 'QUERY_TOO_DEEP', depth: deepest, limit: max } }),
          )
      },
    }
  }
}
