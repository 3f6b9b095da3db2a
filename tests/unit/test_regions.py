"""Region codes: loading, the picker's API, and choosing a region on 我的账号."""

from sqlalchemy import func, select

from cloud.accounts.models import User
from cloud.extensions import db
from cloud.regions.models import Region
from cloud.regions.service import ancestry, load_regions, read_regions
from tests.conftest import csrf_token


def test_regions_are_loaded_with_four_levels(ctx):
    counts = dict(db.session.execute(select(Region.level, func.count()).group_by(Region.level)).all())
    assert counts[1] == 31
    assert counts[2] > 300 and counts[3] > 2800 and counts[4] > 38000
    assert [r.name for r in ancestry("110101001")] == ["北京市", "市辖区", "东城区", "东华门街道"]


def test_loading_again_changes_nothing(ctx, runner):
    before = db.session.scalar(select(func.count()).select_from(Region))
    assert load_regions() == (0, 0)
    result = runner.invoke(args=["regions", "load"])
    assert "0 added, 0 updated" in result.output
    assert db.session.scalar(select(func.count()).select_from(Region)) == before


def test_the_data_file_is_inside_the_project():
    codes = {code for code, *_ in read_regions()}
    assert "430102" in codes and len(codes) > 40000


def test_picker_api_walks_the_tree(client):
    provinces = client.get("/api/v1/regions").get_json()["items"]
    assert len(provinces) == 31 and provinces[0] == {"code": "11", "name": "北京市", "level": 1}
    cities = client.get("/api/v1/regions?parent=43").get_json()["items"]
    assert {"code": "4301", "name": "长沙市", "level": 2} in cities
    counties = client.get("/api/v1/regions?parent=4301").get_json()["items"]
    assert any(c["name"] == "芙蓉区" for c in counties)
    missing = client.get("/api/v1/regions?parent=99")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_user_sets_region_on_profile(app, auth, client):
    user_id = auth.create()
    auth.login()
    token = csrf_token(client, "/account/")
    client.post("/account/region", data={"region_code": "430102", "csrf_token": token})
    with app.app_context():
        assert db.session.get(User, user_id).region_code == "430102"
    page = client.get("/account/").get_data(as_text=True)
    assert "湖南省 / 长沙市 / 芙蓉区" in page
    assert 'data-selected="43,4301,430102"' in page
    client.post("/account/region", data={"region_code": "999999", "csrf_token": token})
    with app.app_context():
        assert db.session.get(User, user_id).region_code == "430102"
