#!/usr/bin/env python3
"""Generate a corpus of realistic, mostly clean Chinese web pages with sparse
violations, for `bench/scan_bench.sh`.

Usage: gen_scan_corpus.py OUT_DIR [TOTAL_MB] [SEED]

Pages look like Chinese portal/P2P/news pages: navigation, paragraphs of
ordinary prose built from a vocabulary of common words, tables, footers with
ICP numbers, inline markup, entities, scripts and styles. About one page in
eight carries one to three violations (guaranteed returns, fund pools, high
stated yields, evasive spellings); about as many carry hard negatives
(regulation news quoting bans, disclaimers). Deterministic for a given seed.
Written from scratch: no third-party page text is copied.
"""
import os
import random
import sys

WORDS = """我们 公司 平台 用户 服务 发展 经济 市场 企业 产品 技术 管理 信息 工作 社会 国家 政府 政策 城市 地区
建设 项目 投资 资金 银行 客户 合作 提供 推动 实现 提高 加强 完善 促进 支持 安全 质量 标准 规范 创新
数据 系统 网络 互联网 科技 研究 教育 文化 健康 医疗 交通 环境 能源 农业 工业 消费 贸易 价格 收入 就业
今年 去年 目前 近期 未来 全面 重要 主要 积极 有效 稳定 持续 快速 明显 不断 进一步 总体 相关 有关 各类
报告 显示 表示 认为 指出 介绍 记者 采访 会议 活动 举行 召开 参加 组织 部门 单位 机构 中心 协会 学校
学生 老师 家长 孩子 居民 群众 消费者 员工 团队 专家 领导 负责人 工程师 医生 志愿者 社区 街道 乡村 县城
今天 明天 上午 下午 时间 日期 季度 年度 计划 目标 任务 措施 方案 意见 通知 办法 要求 规定 制度 流程
增长 下降 提升 扩大 减少 保持 达到 超过 完成 开展 落实 推进 实施 参与 关注 选择 使用 购买 销售 经营
天气 旅游 美食 体育 比赛 电影 音乐 图书 新闻 娱乐 生活 家庭 朋友 运动 公园 博物馆 图书馆 车站 机场
手机 电脑 软件 应用 功能 版本 更新 下载 注册 登录 账户 密码 设置 帮助 客服 反馈 咨询 联系 地址 电话""".split()
CONNECT = "的 了 和 与 及 在 对 为 把 将 从 向 以 而 并 也 都 还 就 更".split()
PUNCT = ["，", "，", "，", "、", "。", "；", "："]

VIOLATIONS = [
    "本平台承诺保本保息，安全无忧",
    "100%本息保障，资金安全有保证",
    "预期年化收益率高达18%，远超银行",
    "年化 24.5% 稳定收益",
    "月息2分，按月付息",
    "平台设立资金池统一调配",
    "新用户注册送888元体验金",
    "股票配资1:10，最快当天到账",
    "保 本 保 息，稳赚不赔",
    "校园贷，大学生凭学生证即可借款",
    "首付贷帮您轻松买房",
    "Ｐ２Ｐ平台，理財首選",
]
NEGATIVES = [
    "监管部门明确要求网贷机构不得设立资金池，严禁承诺保本保息",
    "本产品不保本，理财有风险，投资需谨慎",
    "为确保本次活动顺利进行，请提前到场",
    "各单位要合理分配资金，提高使用效率",
    "企业管理财务咨询服务",
    "平台不承诺收益，过往业绩不代表未来表现",
]


def sentence(rng):
    n = rng.randint(6, 16)
    parts = []
    for i in range(n):
        parts.append(rng.choice(WORDS))
        if rng.random() < 0.3:
            parts.append(rng.choice(CONNECT))
        if i < n - 1 and rng.random() < 0.15:
            parts.append(rng.choice(PUNCT[:4]))
    return "".join(parts) + rng.choice(["。", "。", "！", "；"])


def paragraph(rng, extra=None):
    body = "".join(sentence(rng) for _ in range(rng.randint(3, 8)))
    if rng.random() < 0.3:
        w = rng.choice(WORDS)
        body = body.replace(w, f"<b>{w}</b>", 1)
    if rng.random() < 0.1:
        body += "&nbsp;&copy;"
    if extra:
        cut = rng.randint(0, len(body))
        # insert at a sentence end when possible
        dot = body.find("。", cut)
        cut = dot + 1 if dot >= 0 else len(body)
        body = body[:cut] + extra + "。" + body[cut:]
    return f"<p>{body}</p>\n"


def page(rng, n):
    title = "".join(rng.choice(WORDS) for _ in range(3))
    out = [
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\">",
        f"<title>{title} - 第{n}页</title>",
        f"<meta name=\"description\" content=\"{sentence(rng)}\">",
        "<style>body{font-family:\"Microsoft YaHei\";margin:0}.nav a{color:#333}</style>",
        "<script>var _hmt=_hmt||[];(function(){var hm=document.createElement('script');})();</script>",
        "</head><body>\n<div class=\"nav\">",
    ]
    for _ in range(8):
        w = rng.choice(WORDS)
        out.append(f"<a href=\"/{w}/{rng.randint(1, 9999)}.html\">{w}</a> ")
    out.append("</div>\n<div class=\"main\">\n")
    violations = []
    negatives = []
    r = rng.random()
    if r < 0.125:
        violations = rng.sample(VIOLATIONS, rng.randint(1, 3))
    elif r < 0.25:
        negatives = rng.sample(NEGATIVES, rng.randint(1, 2))
    paras = rng.randint(25, 70)
    inserts = {rng.randrange(paras): v for v in violations + negatives}
    for i in range(paras):
        out.append(paragraph(rng, inserts.get(i)))
        if rng.random() < 0.05:
            out.append("<table><tr>" + "".join(f"<td>{rng.choice(WORDS)}</td><td>{rng.randint(1, 999)}</td>" for _ in range(4)) + "</tr></table>\n")
    out.append("</div>\n<div class=\"footer\">")
    out.append(f"<p>版权所有 © 2016 {rng.choice(WORDS)}{rng.choice(WORDS)}有限公司 陕ICP备{rng.randint(10000000, 99999999)}号-1</p>")
    out.append("</div></body></html>\n")
    return "".join(out)


def main():
    out_dir = sys.argv[1]
    total_mb = float(sys.argv[2]) if len(sys.argv) > 2 else 100
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 2016
    rng = random.Random(seed)
    os.makedirs(out_dir, exist_ok=True)
    total = 0
    n = 0
    target = int(total_mb * 1_000_000)
    while total < target:
        sub = os.path.join(out_dir, f"{n // 1000:03d}")
        os.makedirs(sub, exist_ok=True)
        data = page(rng, n).encode("utf-8")
        with open(os.path.join(sub, f"page{n:06d}.html"), "wb") as f:
            f.write(data)
        total += len(data)
        n += 1
    print(f"{n} pages, {total / 1e6:.1f} MB in {out_dir}")


if __name__ == "__main__":
    main()
