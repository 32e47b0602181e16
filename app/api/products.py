"""Catalog routes: public reads, writes for admins and API keys with ``products:write``."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.deps import Principal, require_scopes
from app.api.problems import problem_responses
from app.api.query_params import openapi_parameters, parse_query
from app.core.db import get_session
from app.schemas.common import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page
from app.schemas.products import ProductCreate, ProductOut, ProductUpdate
from app.services import products as service

router = APIRouter(prefix="/products", tags=["products"])

WRITE_SCOPE = "products:write"
Session = Annotated[AsyncSession, Depends(get_session)]


# An admin user, or an API key carrying the scope.
CatalogWriter = Annotated[Principal, Depends(require_scopes(WRITE_SCOPE))]
JSON = "application/json"


def _ttl(request: Request) -> int:
    return request.app.state.settings.product_cache_ttl_seconds


class ProductListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    q: str | None = Field(default=None, min_length=1, max_length=100,
                          description="Substring of the name, case-insensitive")
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(default=None, max_length=512, description="next_cursor of the previous page")


@router.get("", response_model=Page[ProductOut], summary="List products (newest first), optionally by name",
            responses=problem_responses(422), openapi_extra=openapi_parameters(ProductListQuery))
async def list_products(request: Request) -> Response:
    # The hottest route: its query is parsed by one model rather than per parameter.
    query = parse_query(request, ProductListQuery)
    body = await service.list_products_json(q=query.q, limit=query.limit, cursor=query.cursor, ttl=_ttl(request))
    return Response(body, media_type=JSON)


@router.get("/{product_id}", response_model=ProductOut, summary="One product", responses=problem_responses(404, 422))
async def get_product(request: Request, product_id: uuid.UUID) -> Response:
    return Response(await service.get_product_json(product_id, ttl=_ttl(request)), media_type=JSON)


@router.post("", response_model=ProductOut, status_code=status.HTTP_201_CREATED, summary="Create a product",
             responses=problem_responses(401, 403, 422))
async def create_product(data: ProductCreate, session: Session, response: Response, _: CatalogWriter) -> ProductOut:
    product = await service.create_product(session, data)
    response.headers["Location"] = f"/products/{product.id}"
    return ProductOut.model_validate(product)


@router.patch("/{product_id}", response_model=ProductOut, summary="Change a product",
              responses=problem_responses(401, 403, 404, 422))
async def update_product(product_id: uuid.UUID, data: ProductUpdate, session: Session, _: CatalogWriter) -> ProductOut:
    return ProductOut.model_validate(await service.update_product(session, product_id, data))


@router.delete("/{product_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
               summary="Delete a product (past orders keep their snapshot)", responses=problem_responses(401, 403, 404, 422))
async def delete_product(product_id: uuid.UUID, session: Session, _: CatalogWriter) -> Response:
    await service.delete_product(session, product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
