-- Endpoints: where each deployment can be reached (Docker published ports, the hosts a
-- Terraform configuration reports, …), as a JSON list written after each apply and
-- observation; `address` holds the first one's. An address is `host:port` or a host
-- name as often as an IP address, so the column becomes text (it was never written).

ALTER TABLE deployment_instances ADD COLUMN endpoints JSONB NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE deployment_instances ALTER COLUMN address TYPE TEXT USING host(address);
