-- Endpoints: where each deployment can be reached (Docker published ports, the hosts a
-- Terraform configuration reports, …), as a JSON list written after each apply and
-- observation; `address` holds the first one's. (Same columns as the PostgreSQL
-- migration.)

ALTER TABLE deployment_instances ADD COLUMN endpoints TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(endpoints));
