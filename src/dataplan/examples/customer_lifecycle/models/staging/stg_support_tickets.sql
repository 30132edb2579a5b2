-- One row per support ticket at its latest status.
with versions as (
    select
        tickets.*,
        row_number() over (
            partition by ticket_id
            order by updated_at desc, dt desc
        ) as version_rank
    from support.tickets as tickets
)

select
    cast(ticket_id as bigint) as ticket_id,
    cast(account_id as varchar) as account_id,
    cast(priority as varchar) as priority,
    cast(category as varchar) as category,
    cast(channel as varchar) as channel,
    cast(status as varchar) as status,
    cast(created_at as timestamp) as created_at,
    cast(created_at as date) as created_date,
    cast(solved_at as timestamp) as solved_at,
    cast(extract(epoch from solved_at - created_at) / 3600.0 as double) as resolution_hours,
    cast(csat as integer) as csat,
    cast(updated_at as timestamp) as updated_at,
    cast(dt as date) as load_date
from versions
where version_rank = 1
