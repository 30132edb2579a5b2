-- One row per opportunity at its latest stage. The raw table is the stage
-- history (one row per stage change); a stage change never changes once
-- written, so re-sent copies are exact duplicates and DISTINCT removes them.
with changes as (
    select distinct
        history_id,
        opportunity_id,
        account_id,
        stage,
        amount,
        close_date,
        created_at,
        stage_changed_at
    from crm.opportunities
),

ranked as (
    -- One window partitioning serves the latest stage and the milestones.
    select
        changes.*,
        row_number() over (
            partition by opportunity_id
            order by stage_changed_at desc, history_id desc
        ) as stage_rank,
        count(*) over (partition by opportunity_id) as stage_changes,
        max(amount) over (partition by opportunity_id) as known_amount,
        min(case when stage = 'closed_won' then stage_changed_at end)
            over (partition by opportunity_id) as won_at,
        min(case when stage = 'closed_lost' then stage_changed_at end)
            over (partition by opportunity_id) as lost_at
    from changes
)

select
    cast(opportunity_id as varchar) as opportunity_id,
    cast(account_id as varchar) as account_id,
    cast(stage as varchar) as stage,
    stage in ('closed_won', 'closed_lost') as is_closed,
    -- Early stages are often entered without an amount; keep the known one.
    cast(coalesce(amount, known_amount) as decimal(18, 2)) as amount_usd,
    cast(close_date as date) as close_date,
    cast(created_at as timestamp) as created_at,
    cast(won_at as timestamp) as won_at,
    cast(won_at as date) as won_date,
    cast(lost_at as timestamp) as lost_at,
    cast(stage_changes as bigint) as stage_changes,
    cast(stage_changed_at as timestamp) as updated_at
from ranked
where stage_rank = 1
