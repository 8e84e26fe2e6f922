-- Spend and tokens per organization, user (the chat's owner), model and UTC day, and each chat's own
-- spend (a fork's own steps only), from AssistantStepCompleted (projections/usage.ts). Budgets are
-- checked against these before each model step (src/budgets/guard.ts); `usage` and /metrics read them.
create table usage_daily (
  organization_id text not null,
  user_id text not null,
  model_id text not null,
  day date not null,
  cost_micros bigint not null default 0,
  input_tokens bigint not null default 0,
  output_tokens bigint not null default 0,
  steps bigint not null default 0,
  primary key (organization_id, user_id, model_id, day)
);
create index usage_daily_org_day on usage_daily (organization_id, day);

create table usage_chats (
  stream text primary key,
  cost_micros bigint not null default 0,
  steps bigint not null default 0,
  -- the last step applied: the guard adds the chat's own steps after it from the driver's fold
  through_revision bigint not null
);
