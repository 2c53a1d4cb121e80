//! Complaint-hotline tickets (12345 / 接诉即办): one event per lifecycle step, each carrying the
//! ticket's full current snapshot (domain reference §4.1).

use std::borrow::Cow;

use super::{EventTime, raw_event, string_enum};
use crate::event::{Event, event_row, row_with_envelope};
use crate::geo::CoordSys;
use crate::normalise::{Normaliser, SourcePosition};
use crate::pii::{self, Scrubber};
use crate::reject::Rejection;
use crate::row::Timestamp;

string_enum! {
    /// Lifecycle step of a hotline ticket.
    pub enum HotlineEventType {
        Created = ("hotline.ticket_created", "受理"),
        Dispatched = ("hotline.ticket_dispatched", "派单"),
        Accepted = ("hotline.ticket_accepted", "签收"),
        Returned = ("hotline.ticket_returned", "退单"),
        CallerContacted = ("hotline.caller_contacted", "先行联系"),
        Closed = ("hotline.ticket_closed", "办结"),
        Surveyed = ("hotline.ticket_surveyed", "回访评价"),
        Reopened = ("hotline.ticket_reopened", "重办"),
        Archived = ("hotline.ticket_archived", "归档"),
    }
}

string_enum! {
    /// 受理渠道: how the request came in.
    pub enum Channel {
        Phone = ("phone", "电话"),
        Web = ("web", "网站"),
        Wechat = ("wechat", "微信"),
        App = ("app", "市民APP"),
        Inspector = ("inspector", "监督员上报"),
        ProvinceTransfer = ("province_transfer", "省平台流转"),
        Video = ("video", "视频监控"),
        Email = ("email", "邮件"),
        Rating = ("rating", "好差评"),
        Other = ("other", "其他"),
    }
}

string_enum! {
    /// 诉求类型: the five request types of Beijing's 接诉即办 regulation.
    pub enum RequestType {
        Consult = ("consult", "咨询"),
        Help = ("help", "求助"),
        Complaint = ("complaint", "投诉"),
        Report = ("report", "举报"),
        Suggestion = ("suggestion", "建议"),
    }
}

string_enum! {
    /// 完整社区主题分类: the community-related topic a ticket maps to (domain reference §2.5).
    pub enum WcCategory {
        PropertyMgmt = ("property_mgmt", "物业管理"),
        Parking = ("parking", "停车管理"),
        Charging = ("charging", "充电设施"),
        OldCompoundRenovation = ("old_compound_renovation", "老旧小区改造"),
        ElevatorRetrofit = ("elevator_retrofit", "加装电梯"),
        AgingFriendly = ("aging_friendly", "适老化/无障碍"),
        Noise = ("noise", "噪声扰民"),
        Heating = ("heating", "供暖"),
        Utilities = ("utilities", "供水/排水/燃气/供电"),
        OverheadLines = ("overhead_lines", "架空线"),
        Sanitation = ("sanitation", "环境卫生"),
        IllegalConstruction = ("illegal_construction", "违法建设"),
        ElderlyServices = ("elderly_services", "养老服务"),
        Childcare = ("childcare", "托育/入园"),
        PublicSpace = ("public_space", "公共空间/绿化"),
    }
}

string_enum! {
    /// 工单性质.
    pub enum TicketNature {
        Normal = ("normal", "普通"),
        Urgent = ("urgent", "紧急"),
        Key = ("key", "重点"),
        Supervised = ("supervised", "督办"),
    }
}

string_enum! {
    /// 处理受理方式: what intake did with the request.
    pub enum IntakeDisposition {
        AnsweredDirectly = ("answered_directly", "直接答复"),
        Dispatched = ("dispatched", "派单"),
        Transferred = ("transferred", "转办"),
        Invalid = ("invalid", "无效"),
    }
}

string_enum! {
    /// 承办单位层级.
    pub enum HandlingUnitLevel {
        District = ("district", "区"),
        Street = ("street", "街乡镇"),
        MunicipalDept = ("municipal_dept", "市级部门"),
        Soe = ("soe", "国企"),
        PlatformCompany = ("platform_company", "平台企业"),
        Community = ("community", "社区"),
        PropertyCompany = ("property_company", "物业"),
    }
}

string_enum! {
    /// 工单状态.
    pub enum TicketStatus {
        Received = ("received", "已受理"),
        Dispatched = ("dispatched", "已派单"),
        Accepted = ("accepted", "已签收"),
        InProgress = ("in_progress", "办理中"),
        Returned = ("returned", "已退单"),
        Closed = ("closed", "已办结"),
        Surveyed = ("surveyed", "已回访"),
        Reopened = ("reopened", "重办"),
        Archived = ("archived", "已归档"),
    }
}

string_enum! {
    /// 办理结果.
    pub enum HandlingResult {
        Resolved = ("resolved", "已解决"),
        Partially = ("partially", "部分解决"),
        Explained = ("explained", "解释说明"),
        Unresolvable = ("unresolvable", "暂不具备条件"),
    }
}

string_enum! {
    /// 是否满意: the caller's answer at the follow-up call.
    pub enum Satisfaction {
        Satisfied = ("satisfied", "满意"),
        Basic = ("basic", "基本满意"),
        Dissatisfied = ("dissatisfied", "不满意"),
    }
}

raw_event! {
    /// A hotline ticket event as the hotline system sends it (`schemas/hotline_ticket.v1.json`).
    pub struct HotlineTicket {
        event_type: HotlineEventType,
        community_code: Option<String>,
        /// 工单编号.
        ticket_id: String,
        /// 版本号: increases with each event of a ticket.
        ticket_version: i32,
        /// 受理渠道.
        channel: Channel,
        /// 诉求类型.
        request_type: RequestType,
        /// 一级分类 as the source names it.
        category_l1: String,
        /// 二级分类.
        category_l2: Option<String>,
        /// 三级分类.
        category_l3: Option<String>,
        /// 完整社区主题分类; null when not community-related.
        wc_category: Option<WcCategory>,
        /// 标签.
        tags: Option<Vec<String>>,
        /// 标题 (phone and ID numbers are masked on landing).
        title: Option<String>,
        /// 主要内容 (phone and ID numbers are masked on landing).
        content: Option<String>,
        /// 工单性质.
        ticket_nature: Option<TicketNature>,
        /// 紧急敏感 (heating, threats, fire safety, water supply).
        is_emergency_sensitive: Option<bool>,
        /// 处理受理方式.
        intake_disposition: IntakeDisposition,
        /// 来电号码: raw input only, never landed; the lake keeps a keyed hash.
        caller_phone: Option<String>,
        /// 来电人: raw input only, never landed.
        caller_name: Option<String>,
        /// 小区名称.
        compound_name: Option<String>,
        /// 问题点位.
        location_text: Option<String>,
        /// 经度 in `coord_sys_raw` (WGS84 when absent).
        lng: Option<f64>,
        /// 纬度 in `coord_sys_raw` (WGS84 when absent).
        lat: Option<f64>,
        /// 原始坐标系 of `lng`/`lat`.
        coord_sys_raw: Option<CoordSys>,
        /// 主办/承办单位.
        handling_unit: Option<String>,
        /// 承办单位层级.
        handling_unit_level: Option<HandlingUnitLevel>,
        /// 来电/受理时间.
        received_time: EventTime,
        /// 派单时间.
        dispatched_time: Option<EventTime>,
        /// 签收时间.
        accepted_time: Option<EventTime>,
        /// 首次联系时间.
        contacted_time: Option<EventTime>,
        /// 办理时限 as the source sets it.
        due_time: Option<EventTime>,
        /// 办结时间.
        closed_time: Option<EventTime>,
        /// 工单状态.
        status: TicketStatus,
        /// 退单次数.
        return_count: Option<i32>,
        /// 重办次数.
        reopen_count: Option<i32>,
        /// 办理结果.
        handling_result: Option<HandlingResult>,
        /// 回复内容 (phone and ID numbers are masked on landing).
        reply_text: Option<String>,
        /// 是否有效回访: the denominator of the three rates.
        is_valid_visit: Option<bool>,
        /// 是否联系: numerator of 响应率.
        contacted: Option<bool>,
        /// 是否解决: numerator of 解决率.
        resolved: Option<bool>,
        /// 是否满意.
        satisfaction: Option<Satisfaction>,
        /// 主动治理/未诉先办.
        is_proactive: Option<bool>,
        /// 关联改造项目.
        related_project_id: Option<String>,
        /// 关联设施.
        related_facility_id: Option<String>,
    }
}

event_row! {
    /// A landed hotline ticket event: table `hotline_tickets`.
    pub struct HotlineTicketRow => HotlineTicketRowBuilder {
        /// 工单编号.
        ticket_id: String,
        /// 版本号.
        ticket_version: i32,
        /// 受理渠道.
        channel: String,
        /// 诉求类型.
        request_type: String,
        /// 一级分类.
        category_l1: String,
        /// 二级分类.
        category_l2: Option<String>,
        /// 三级分类.
        category_l3: Option<String>,
        /// 完整社区主题分类.
        wc_category: Option<String>,
        /// 标签 (masked).
        tags: Option<Vec<String>>,
        /// 标题 (masked).
        title: Option<String>,
        /// 主要内容 (masked).
        content: Option<String>,
        /// 工单性质.
        ticket_nature: Option<String>,
        /// 紧急敏感.
        is_emergency_sensitive: Option<bool>,
        /// 处理受理方式.
        intake_disposition: String,
        /// 来电人: HMAC-SHA256 of the normalised phone number under the deployment's key.
        caller_hash: Option<String>,
        /// 小区名称.
        compound_name: Option<String>,
        /// 问题点位 (masked).
        location_text: Option<String>,
        /// 经度 (WGS84).
        lng: Option<f64>,
        /// 纬度 (WGS84).
        lat: Option<f64>,
        /// 原始坐标系.
        coord_sys_raw: Option<String>,
        /// 主办/承办单位.
        handling_unit: Option<String>,
        /// 承办单位层级.
        handling_unit_level: Option<String>,
        /// 来电/受理时间 (UTC).
        received_time: Timestamp,
        /// 派单时间.
        dispatched_time: Option<Timestamp>,
        /// 签收时间.
        accepted_time: Option<Timestamp>,
        /// 首次联系时间.
        contacted_time: Option<Timestamp>,
        /// 办理时限.
        due_time: Option<Timestamp>,
        /// 办结时间.
        closed_time: Option<Timestamp>,
        /// 工单状态.
        status: String,
        /// 退单次数.
        return_count: Option<i32>,
        /// 重办次数.
        reopen_count: Option<i32>,
        /// 办理结果.
        handling_result: Option<String>,
        /// 回复内容 (masked).
        reply_text: Option<String>,
        /// 是否有效回访.
        is_valid_visit: Option<bool>,
        /// 是否联系.
        contacted: Option<bool>,
        /// 是否解决.
        resolved: Option<bool>,
        /// 是否满意.
        satisfaction: Option<String>,
        /// 主动治理/未诉先办.
        is_proactive: Option<bool>,
        /// 关联改造项目.
        related_project_id: Option<String>,
        /// 关联设施.
        related_facility_id: Option<String>,
    }
}

impl Event for HotlineTicket {
    type Row = HotlineTicketRow;
    const SCHEMA: &'static str = "hotline_ticket";
    const TOPIC: &'static str = "hotline.tickets";
    const TABLE: &'static str = "hotline_tickets";
    const HASHES_CALLERS: bool = true;

    fn schema_version(&self) -> &str {
        &self.schema_version
    }

    fn normalise(
        mut self,
        ctx: &Normaliser,
        source: SourcePosition,
    ) -> Result<HotlineTicketRow, Rejection> {
        let env = ctx.envelope(self.take_envelope(), source, false)?;
        let (lng, lat) = ctx.coordinates(self.coord_sys_raw, self.lng, self.lat)?;
        let ts = |t: Option<EventTime>| t.map(|t| Timestamp::from_utc(t.0));
        // The caller's own name and number are scrubbed from every narrative field; the
        // number is hashed in its canonical form (a local number takes the city's area code).
        let city = Some(env.city_code.as_str());
        let caller_hash = self
            .caller_phone
            .as_deref()
            .and_then(|p| ctx.caller_hash(&pii::canonical_phone(p, city)));
        let scrubber = Scrubber::for_caller(
            self.caller_name.as_deref(),
            self.caller_phone.as_deref(),
            city,
        );
        let scrub = |text: String| match scrubber.scrub(&text) {
            Cow::Borrowed(_) => text,
            Cow::Owned(scrubbed) => scrubbed,
        };
        Ok(row_with_envelope!(HotlineTicketRow, env, {
            ticket_id: self.ticket_id,
            ticket_version: self.ticket_version,
            channel: self.channel.as_str().to_owned(),
            request_type: self.request_type.as_str().to_owned(),
            category_l1: self.category_l1,
            category_l2: self.category_l2,
            category_l3: self.category_l3,
            wc_category: self.wc_category.map(|c| c.as_str().to_owned()),
            tags: self.tags.map(|tags| tags.into_iter().map(scrub).collect()),
            title: self.title.map(scrub),
            content: self.content.map(scrub),
            ticket_nature: self.ticket_nature.map(|n| n.as_str().to_owned()),
            is_emergency_sensitive: self.is_emergency_sensitive,
            intake_disposition: self.intake_disposition.as_str().to_owned(),
            caller_hash: caller_hash,
            compound_name: self.compound_name,
            location_text: self.location_text.map(scrub),
            lng: lng,
            lat: lat,
            coord_sys_raw: self.coord_sys_raw.map(|c| c.as_str().to_owned()),
            handling_unit: self.handling_unit,
            handling_unit_level: self.handling_unit_level.map(|l| l.as_str().to_owned()),
            received_time: Timestamp::from_utc(self.received_time.0),
            dispatched_time: ts(self.dispatched_time),
            accepted_time: ts(self.accepted_time),
            contacted_time: ts(self.contacted_time),
            due_time: ts(self.due_time),
            closed_time: ts(self.closed_time),
            status: self.status.as_str().to_owned(),
            return_count: self.return_count,
            reopen_count: self.reopen_count,
            handling_result: self.handling_result.map(|r| r.as_str().to_owned()),
            reply_text: self.reply_text.map(scrub),
            is_valid_visit: self.is_valid_visit,
            contacted: self.contacted,
            resolved: self.resolved,
            satisfaction: self.satisfaction.map(|s| s.as_str().to_owned()),
            is_proactive: self.is_proactive,
            related_project_id: self.related_project_id,
            related_facility_id: self.related_facility_id,
        }))
    }
}
