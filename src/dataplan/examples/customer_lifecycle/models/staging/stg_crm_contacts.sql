-- One row per CRM contact, newest version; emails normalised for matching.
with versions as (
    select
        contacts.*,
        row_number() over (
            partition by contact_id
            order by updated_at desc, dt desc
        ) as version_rank
    from crm.contacts as contacts
)

select
    cast(contact_id as varchar) as contact_id,
    cast(account_id as varchar) as account_id,
    cast(first_name as varchar) as first_name,
    cast(last_name as varchar) as last_name,
    cast(lower(trim(email)) as varchar) as email,
    cast(title as varchar) as title,
    cast(created_at as timestamp) as created_at,
    cast(updated_at as timestamp) as updated_at,
    cast(dt as date) as load_date
from versions
where version_rank = 1
