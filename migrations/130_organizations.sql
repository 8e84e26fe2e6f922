-- Organizations and who holds which role in each (projections/organizations.ts). The default
-- organization has no row: it exists without an event. A user's roles are one JSON object
-- {organizationId: [role, …]}, folded by the same function as the user's decider
-- (evolveOrgRoles in src/events/user.ts); holding any role in an organization is membership.
create table organizations (
  id uuid primary key,
  name text not null unique,
  created_at timestamptz not null
);

create table user_org_roles (
  user_id uuid primary key,
  home_organization_id uuid not null,
  roles jsonb not null
);
