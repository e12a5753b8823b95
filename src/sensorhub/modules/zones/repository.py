"""SQL for zones (asyncpg, bound parameters only)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

ZONE_COLUMNS = "id, name, description, created_at"


async def list_zones(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        f"SELECT {ZONE_COLUMNS} FROM zones ORDER BY created_at, id"
    )
    return rows


async def get_zone(pool: asyncpg.Pool, zone_id: UUID) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(
        f"SELECT {ZONE_COLUMNS} FROM zones WHERE id = $1", zone_id
    )
    return row


async def zone_devices(pool: asyncpg.Pool, zone_id: UUID) -> list[asyncpg.Record]:
    """Modules assigned to the zone (with their name and type once they have reported)."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT zm.module_id, s.name, s.module_type FROM zone_modules zm "
        "LEFT JOIN device_system_status s ON s.module_id = zm.module_id "
        "WHERE zm.zone_id = $1 ORDER BY zm.module_id",
        zone_id,
    )
    return rows


async def create_zone(pool: asyncpg.Pool, name: str, description: str | None) -> asyncpg.Record:
    row: asyncpg.Record = await pool.fetchrow(
        f"INSERT INTO zones (name, description) VALUES ($1, $2) RETURNING {ZONE_COLUMNS}",
        name,
        description,
    )
    return row


async def update_zone(
    pool: asyncpg.Pool, zone_id: UUID, name: str, description: str | None
) -> asyncpg.Record | None:
    """Rename; a description left out (None) keeps the stored one, as the seed's backend."""
    row: asyncpg.Record | None = await pool.fetchrow(
        "UPDATE zones SET name = $2, description = coalesce($3, description) WHERE id = $1 "
        f"RETURNING {ZONE_COLUMNS}",
        zone_id,
        name,
        description,
    )
    return row


async def delete_zone(pool: asyncpg.Pool, zone_id: UUID) -> str | None:
    """Delete the zone (its modules become unassigned); returns its name, None if unknown."""
    name: str | None = await pool.fetchval(
        "DELETE FROM zones WHERE id = $1 RETURNING name", zone_id
    )
    return name


async def assign(pool: asyncpg.Pool, zone_id: UUID, module_id: str) -> None:
    """Put the module in the zone (moving it out of any other)."""
    await pool.execute(
        "INSERT INTO zone_modules (module_id, zone_id) VALUES ($1, $2) "
        "ON CONFLICT (module_id) DO UPDATE SET zone_id = EXCLUDED.zone_id",
        module_id,
        zone_id,
    )


async def unassign(pool: asyncpg.Pool, module_id: str, zone_id: UUID | None = None) -> bool:
    """Take the module out of its zone (only of `zone_id` when given); False if it was in none."""
    status: str = await pool.execute(
        "DELETE FROM zone_modules WHERE module_id = $1 AND ($2::uuid IS NULL OR zone_id = $2)",
        module_id,
        zone_id,
    )
    return status != "DELETE 0"
