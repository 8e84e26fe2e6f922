-- Workspaces and their templates (read models of the template-<id> and workspace-<id> streams),
-- and the workspace agent tokens (not in the log: only their hashes, written by the control plane).

create table templates (
  id uuid primary key,
  organization_id uuid not null,
  name text not null,
  description text not null,
  parameters jsonb not null,
  provisioner jsonb not null,
  allowed_roles jsonb not null,           -- "everyone" or ["admin", "member", ...]
  archived boolean not null default false,
  workspace_count int not null default 0, -- popularity: workspaces ever created from it
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index templates_org_idx on templates (organization_id, workspace_count desc);

create table workspaces (
  id uuid primary key,
  organization_id uuid not null,
  owner_id uuid not null,
  template_id uuid not null,
  name text not null,
  parameters jsonb not null,
  status text not null,                   -- pending | building | started | stopped | failed | deleted
  transition text,                        -- the running build's transition
  agent_connected boolean not null default false,
  agent jsonb,                            -- the daemon's last hello: version, os, arch, hostname, workdir
  last_build_log text not null default '',
  last_error text,
  created_at timestamptz not null,
  updated_at timestamptz not null
);
create index workspaces_owner_idx on workspaces (owner_id, created_at desc);

create table workspace_agent_tokens (
  token_hash text primary key,            -- sha256 hex; the token itself is never stored
  workspace_id uuid not null unique,
  created_at timestamptz not null default now()
);
