-- severity: warn
-- Every raw dataset received the latest daily load. A dataset behind the
-- others means its feed stopped (or, on tiny demos, had nothing to send).
select source_name, table_name, latest_load
from staging.stg_source_loads
where latest_load < (select max(latest_load) from staging.stg_source_loads)
