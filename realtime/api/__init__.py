"""REST API v1: resources under /v1, their OpenAPI document, auth, errors and rate limits.

Entry point: :func:`setup_api` (``realtime.api.app``) adds every route and middleware to
an application holding ``app_keys.SETTINGS`` (and ``app_keys.STORE`` once it serves).

Adding a resource
-----------------
1. Write ``realtime/api/<name>.py`` declaring a module-level ``resource``::

       from realtime.api.routing import Context, Resource
       from realtime.api.validation import CREATED_AT, ID, Field, Schema

       SCHEMA = Schema("widget", (
           ID,
           Field("name", "string", "What it is called", required=True, min_length=1, max_length=200),
           Field("color", "string", enum=Color),           # choices from an enum; value becomes a member
           Field("campaign_id", "id", nullable=True),
           Field("secret", "string", write_only=True),      # accepted, never answered
           CREATED_AT,                                      # read_only fields are answered, never accepted
       ))
       resource = Resource("widgets", SCHEMA, "Widgets: what they are for")

       @resource.list(filters=(Field("name", "string", max_length=200),))
       async def list_widgets(ctx: Context) -> dict:
           query = scoped(Widget, ctx.account_id).order_by(Widget.id)
           return await ctx.page(query, lambda w: ctx.item(w.id, SCHEMA.dump(w)))

       @resource.create()                  # POST /v1/widgets, body validated against SCHEMA
       async def create_widget(ctx: Context) -> dict:
           await ctx.check_owned({"campaign_id": (Campaign, ctx.body.get("campaign_id"))})
           ...                             # ctx.body holds converted values; answer 201
       @resource.read()                    # GET /v1/widgets/{id}: ctx.find(Widget) -> row or 404
       @resource.update()                  # PATCH /v1/widgets/{id}: ctx.body holds only given fields
       @resource.delete()                  # DELETE /v1/widgets/{id}: return None -> 204
       @resource.operation("POST", "/{id}/pause", name="pause", summary="...", body=PAUSE_SCHEMA,
                           errors=(404, 409))   # anything else; ``response=`` a JSON Schema dict,
                                                # ITEM, COLLECTION, NO_CONTENT or a media type
                                                # ("audio/*") when the handler returns a web.Response;
                                                # ``upload=`` a multipart JSON Schema read by the handler.

2. Import the module in ``realtime/api/app.py`` and add its ``resource`` to
   ``RESOURCES_IN_ORDER`` (where GET /v1 should list it).

Query parameters are checked by their ``Field`` declarations before the handler runs: give
a filter its ``check=`` (e.g. ``validation.check_phone``) so a bad value answers 400 naming
the parameter; raising ``Invalid`` (422) from a handler is for bodies, never for the query.

Handlers run inside one transaction (``ctx.session``) after authentication; they raise
``realtime.api.errors`` (``NotFound``, ``Conflict(msg, error_id="username-taken")``,
``Invalid.fields({"field": "why"})``, ``BadRequest``) and never build error responses.
``ctx.item(id, values)`` adds ``uri`` and ``actions``; ``ctx.page(select, present)``
answers a collection with page links (filters kept, credentials dropped). A collection that
can grow large is declared ``@resource.list(..., by_key=True)`` and answered with
``ctx.page(select, present, key=Model.id)``: paged by key (``after``/``before``), its total
estimated past 10,000 on PostgreSQL. The OpenAPI
document at /v1/openapi.json is generated from these declarations, and the tests in
tests/api/test_openapi.py check every route against it.
"""
from realtime.api.app import setup_api

__all__ = ["setup_api"]
