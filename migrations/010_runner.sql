-- Encrypted secrets (provider API keys), kept out of the event log.
create table secrets (
  name text primary key,
  sealed text not null,            -- base64(iv | auth tag | AES-256-GCM ciphertext)
  fingerprint text not null,
  updated_at timestamptz not null
);

-- One runner process drives a chat at a time. A lease not renewed before expires_at may be taken over.
create table chat_leases (
  chat_id uuid primary key,
  owner text not null,
  acquired_at timestamptz not null default now(),
  expires_at timestamptz not null
);
