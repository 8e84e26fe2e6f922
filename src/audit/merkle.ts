import { createHash } from 'node:crypto'

/**
 * A Merkle tree built one leaf at a time (RFC 6962 shape: leaves hashed with 0x00, nodes with
 * 0x01, the left subtree the largest power of two). It keeps only the roots of its perfect
 * subtrees, so the root of every prefix of the log is available from one pass in bounded memory.
 */
export class MerkleBuilder {
  /** Roots of perfect subtrees, largest (leftmost) first, with their leaf counts. */
  readonly #stack: { size: number; hash: Buffer<ArrayBufferLike> }[] = []
  #count = 0

  get count(): number {
    return this.#count
  }

  add(leaf: string): void {
    let node: { size: number; hash: Buffer<ArrayBufferLike> } = { size: 1, hash: createHash('sha256').update(Buffer.from([0])).update(leaf).digest() }
    while (this.#stack.length && this.#stack[this.#stack.length - 1]!.size === node.size) {
      const left = this.#stack.pop()!
      node = { size: left.size * 2, hash: nodeHash(left.hash, node.hash) }
    }
    this.#stack.push(node)
    this.#count++
  }

  /** Hex root of the leaves added so far; the empty tree's root is SHA-256 of nothing. */
  root(): string {
    if (!this.#stack.length) return createHash('sha256').digest('hex')
    let hash = this.#stack[this.#stack.length - 1]!.hash
    for (let i = this.#stack.length - 2; i >= 0; i--) hash = nodeHash(this.#stack[i]!.hash, hash)
    return hash.toString('hex')
  }
}

function nodeHash(left: Buffer, right: Buffer): Buffer {
  return createHash('sha256').update(Buffer.from([1])).update(left).update(right).digest()
}
