// Images for a message: checked here first (type and size, with a message a user can act on),
// then uploaded to /api/v1/attachments, which checks them again by their content.
import { useEffect, useState } from 'react'
import { storedToken } from './auth.ts'

export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp']
export const MAX_IMAGE_BYTES = 10 * 1024 * 1024

export interface UploadedImage {
  id: string
  name: string
  mimeType: string
  previewUrl: string
}

/** Why `file` cannot be attached, or null when it can. */
export function refusalOf(file: File): string | null {
  if (!IMAGE_TYPES.includes(file.type)) return `${file.name} is not a PNG, JPEG, GIF or WebP image`
  if (file.size > MAX_IMAGE_BYTES) return `${file.name} is ${(file.size / 1024 / 1024).toFixed(1)} MB; an image may be 10 MB at most`
  return null
}

export async function uploadImage(file: File): Promise<UploadedImage> {
  const res = await fetch(`/api/v1/attachments?name=${encodeURIComponent(file.name)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${storedToken()}`, 'content-type': file.type },
    body: file,
  })
  const body = (await res.json()) as { id?: string; mimeType?: string; error?: { message: string } }
  if (!res.ok || !body.id) throw new Error(body.error?.message ?? `the upload failed (${res.status})`)
  return { id: body.id, name: file.name, mimeType: body.mimeType ?? file.type, previewUrl: URL.createObjectURL(file) }
}

async function download(attachmentId: string, name: string) {
  const res = await fetch(`/api/v1/attachments/${attachmentId}`, { headers: { authorization: `Bearer ${storedToken()}` } })
  if (!res.ok) return
  const url = URL.createObjectURL(await res.blob())
  const a = Object.assign(document.createElement('a'), { href: url, download: name })
  a.click()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}

/** An attachment of the chat: an image shown, anything else a download; fetched with the token (an <img src> cannot send it). */
export function AttachmentImage({ attachmentId, name, mimeType = 'image/' }: { attachmentId: string; name: string; mimeType?: string }) {
  if (!mimeType.startsWith('image/'))
    return (
      <button type="button" className="download" onClick={() => void download(attachmentId, name)}>
        Download {name}
      </button>
    )
  return <InlineImage attachmentId={attachmentId} name={name} />
}

function InlineImage({ attachmentId, name }: { attachmentId: string; name: string }) {
  const [url, setUrl] = useState<string | null>(null)
  useEffect(() => {
    let revoked = false
    let objectUrl: string | null = null
    void fetch(`/api/v1/attachments/${attachmentId}`, { headers: { authorization: `Bearer ${storedToken()}` } })
      .then((res) => (res.ok ? res.blob() : null))
      .then((blob) => {
        if (!blob || revoked) return
        objectUrl = URL.createObjectURL(blob)
        setUrl(objectUrl)
      })
    return () => {
      revoked = true
      if (objectUrl) URL.revokeObjectURL(objectUrl)
    }
  }, [attachmentId])
  return url ? <img className="attachment-image" src={url} alt={name} /> : <span className="attachment">📎 {name}</span>
}
