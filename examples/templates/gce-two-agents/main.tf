# One Compute Engine VM that runs two Cairn workspace daemons, `main` and `dev`. Neither gets a
# token: each proves who it is with the VM's Google instance identity and names itself with
# --agent-name, because both share the VM's instance id.
#
# Cairn runs this through an `exec` template (see template.graphql beside this file); the
# start command prints `terraform output -raw cairn_agents` last, which declares the agents.

terraform {
  required_providers {
    google = { source = "hashicorp/google" }
  }
}

variable "workspace_id" { type = string }    # CAIRN_WORKSPACE_ID
variable "cairn_url" { type = string }       # the control plane's public URL, as the VM reaches it
variable "audience" { type = string }        # must equal the server's CAIRN_GOOGLE_IDENTITY_AUDIENCE
variable "project" { type = string }
variable "zone" {
  type    = string
  default = "us-central1-a"
}
variable "running" {
  type    = bool
  default = true
}

provider "google" {
  project = var.project
  zone    = var.zone
}

resource "google_compute_instance" "workspace" {
  name         = "cairn-${substr(var.workspace_id, 0, 8)}"
  machine_type = "e2-standard-4"
  desired_status = var.running ? "RUNNING" : "TERMINATED"

  boot_disk {
    initialize_params {
      # An image with Node 22+ and Cairn installed (`cairn` on PATH).
      image = "projects/${var.project}/global/images/family/cairn-workspace"
    }
  }

  network_interface {
    network = "default"
    access_config {}
  }

  # The identity token is issued for the VM's service account.
  service_account {
    scopes = ["cloud-platform"]
  }

  metadata = {
    startup-script = <<-SCRIPT
      #!/bin/sh
      for name in main dev; do
        mkdir -p /home/cairn/$name
        CAIRN_GOOGLE_IDENTITY_AUDIENCE='${var.audience}' \
          nohup cairn workspace-agent --url '${var.cairn_url}' \
            --auth google-instance-identity --agent-name $name --dir /home/cairn/$name \
            >/var/log/cairn-$name.log 2>&1 &
      done
    SCRIPT
  }
}

# Printed last by the start command: the agents this build yields, both on this VM.
output "cairn_agents" {
  value = jsonencode({
    cairn_agents = [
      { name = "main", auth = "google-instance-identity", instance_id = google_compute_instance.workspace.instance_id },
      { name = "dev", auth = "google-instance-identity", instance_id = google_compute_instance.workspace.instance_id },
    ]
  })
}
