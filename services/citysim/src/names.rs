//! Plausible Chinese place names for streets, communities, compounds and roads, built from
//! syllable pools.

use crate::rng::{SimRng, choose_copy, int};

const FIRST: &[&str] = &[
    "东", "西", "南", "北", "中", "上", "新", "老", "大", "小", "长", "永", "和", "安", "兴", "华",
    "明", "光", "清", "春", "金", "玉", "石", "青", "龙", "凤", "花", "桃", "杨", "柳", "松", "枣",
    "马", "白", "红", "黄", "翠", "丰", "泰", "康", "宁", "平", "福", "德", "文", "静", "万", "双",
    "三", "四", "五", "六", "七", "八", "九", "十", "百", "千", "学", "育", "海", "湖", "河", "山",
    "林", "田", "古", "宝", "望", "朝", "阳", "月", "星", "云", "瑞", "祥", "建", "工", "农", "商",
];

const SECOND: &[&str] = &[
    "门", "桥", "园", "里", "庄", "营", "店", "坊", "湾", "塘", "苑", "台", "林", "亭", "泉", "井",
    "口", "屯", "堡", "溪", "峰", "岭", "坡", "滨", "港", "洲", "坝", "堤", "院", "府", "城", "寺",
    "楼", "街", "巷", "路", "庙", "居", "园", "田", "村", "场", "厂", "湖", "河", "山", "阁", "沟",
];

const STREET_SUFFIX: &[&str] = &["街道", "街道", "街道", "路街道", "镇"];
const COMMUNITY_SUFFIX: &[&str] = &[
    "社区",
    "社区",
    "社区",
    "东里社区",
    "西里社区",
    "北里社区",
    "南里社区",
    "新村社区",
    "一社区",
    "二社区",
    "花园社区",
    "家园社区",
];
const COMPOUND_SUFFIX: &[&str] = &[
    "小区", "小区", "家园", "花园", "嘉园", "公寓", "新村", "北里", "南里", "西区", "东区", "宿舍",
];
const ROAD_SUFFIX: &[&str] = &["路", "街", "大街", "巷", "胡同", "中路", "北路", "南路"];
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗",
];

/// A two-syllable place stem, e.g. `学院`.
pub fn stem(rng: &mut SimRng) -> String {
    let mut s = String::with_capacity(6);
    s.push_str(choose_copy(rng, FIRST));
    s.push_str(choose_copy(rng, SECOND));
    s
}

/// A street or town name, e.g. `学院路街道`.
pub fn street(rng: &mut SimRng) -> String {
    let mut s = stem(rng);
    s.push_str(choose_copy(rng, STREET_SUFFIX));
    s
}

/// A community name, e.g. `二里庄社区`.
pub fn community(rng: &mut SimRng) -> String {
    let mut s = stem(rng);
    if int(rng, 0, 3) == 0 {
        s.push_str(choose_copy(rng, SECOND));
    }
    s.push_str(choose_copy(rng, COMMUNITY_SUFFIX));
    s
}

/// A residential compound name, e.g. `翠园小区`.
pub fn compound(rng: &mut SimRng) -> String {
    let mut s = stem(rng);
    s.push_str(choose_copy(rng, COMPOUND_SUFFIX));
    s
}

/// A road name, e.g. `丰台北路`.
pub fn road(rng: &mut SimRng) -> String {
    let mut s = stem(rng);
    s.push_str(choose_copy(rng, ROAD_SUFFIX));
    s
}

/// A caller's surname.
pub fn surname(i: usize) -> &'static str {
    SURNAMES[i % SURNAMES.len()]
}

/// Number of surnames [`surname`] cycles through.
pub const SURNAME_COUNT: usize = SURNAMES.len();

/// The name without its administrative suffix, for naming things after a community
/// (`二里庄社区` → `二里庄`).
pub fn short(name: &str) -> &str {
    for suffix in ["社区", "街道", "镇"] {
        if let Some(s) = name.strip_suffix(suffix) {
            return s;
        }
    }
    name
}

/// Chinese ordinal numbers for the n-th facility of a type in a community.
pub fn ordinal_zh(n: u16) -> &'static str {
    const ORD: &[&str] = &[
        "", "第二", "第三", "第四", "第五", "第六", "第七", "第八", "第九", "第十",
    ];
    ORD.get(usize::from(n)).copied().unwrap_or("分")
}
