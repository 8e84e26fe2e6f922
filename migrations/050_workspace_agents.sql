-- Several agents per workspace: the agents each build declares (read model of
-- WorkspaceAgentsDeclared), each agent's connection, and one session token per agent.

-- the last build started; only its agents count
alter table workspaces add column latest_build_id uuid;

create table workspace_agents (
  workspace_id uuid not null,
  build_id uuid not null,
  name text not null,
  auth_kind text not null,               -- token | aws-instance-identity | azure-instance-identity | google-instance-identity
  instance_id text,                      -- the cloud instance an instance-identity agent is bound to
  parent_name text,                      -- set for sub-agents; they never authenticate by instance identity
  position int not null,                 -- order in the build's manifest
  primary key (workspace_id, build_id, name)
);
create index workspace_agents_instance_idx on workspace_agents (instance_id) where parent_name is null;

create table workspace_agent_connections (
  workspace_id uuid not null,
  name text not null,
  connected boolean not null,
  agent jsonb,                           -- the daemon's last hello
  primary key (workspace_id, name)
);

alter table workspace_agent_tokens add column agent_name text not null default 'main';
alter table workspace_agent_tokens drop constraint workspace_agent_tokens_workspace_id_key;
alter table workspace_agent_tokens add constraint workspace_agent_tokens_agent_key unique (workspace_id, agent_name);
