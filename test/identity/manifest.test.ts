// The agent manifest an exec template prints as its last line.
import { describe, expect, it } from 'vitest'
import { parseAgentManifest } from '../../src/workspaces/agent-manifest.ts'

describe('the agent manifest', () => {
  it('reads agents in the shape a Terraform output prints', () => {
    const line = '{"cairn_agents": [{"name": "main", "auth": "google-instance-identity", "instance_id": "1234567890"}, {"name": "dev", "auth": "google-instance-identity", "instance_id": 1234567890}]}'
    expect(parseAgentManifest(line)).toEqual({
      agents: [
        { name: 'main', authKind: 'google-instance-identity', instanceId: '1234567890', parent: null },
        { name: 'dev', authKind: 'google-instance-identity', instanceId: '1234567890', parent: null },
      ],
    })
  })

  it('is absent when the last line does not mention cairn_agents', () => {
    expect(parseAgentManifest('Apply complete! Resources: 3 added.')).toBeNull()
    expect(parseAgentManifest('{"ok": true}')).toBeNull()
    expect(parseAgentManifest(null)).toBeNull()
  })

  it('says what is wrong with a bad one', () => {
    const error = (line: string) => (parseAgentManifest(line) as { error: string }).error
    expect(error('{"cairn_agents": [')).toMatch(/^the agent manifest \(the last line of the command's output\) is invalid: it is not JSON/)
    expect(error('{"cairn_agents": {"name": "main"}}')).toMatch(/expected \{"cairn_agents": \[/)
    expect(error('{"cairn_agents": []}')).toMatch(/it declares no agents/)
    expect(error('{"cairn_agents": [{"name": "main", "auth": "gcp", "instance_id": "1"}]}')).toMatch(/agent 1 \("main"\): auth must be one of token, aws-instance-identity, azure-instance-identity, google-instance-identity; got "gcp"/)
    expect(error('{"cairn_agents": [{"name": "main", "auth": "aws-instance-identity"}]}')).toMatch(/needs the instance_id/)
    expect(error('{"cairn_agents": [{"name": "a b"}]}')).toMatch(/name must be/)
    expect(error('{"cairn_agents": [{"name": "main"}, {"name": "main"}]}')).toMatch(/used twice/)
    expect(error('{"cairn_agents": [{"name": "dev", "auth": "token"}]}')).toMatch(/only the agent named "main" can use token auth/)
    expect(error('{"cairn_agents": [{"name": "main"}, {"name": "x", "parent": "ghost"}]}')).toMatch(/parent "ghost" is not an agent/)
    expect(error('{"cairn_agents": [{"name": "main", "instance": "1"}]}')).toMatch(/unknown field "instance"/)
  })
})
